"""Datasets loaded once per process as read-only uint8 arrays, shared by every job."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nncore.mnist import load_mnist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """Training and test arrays: x as (N, 784) uint8 pixels, t as integer labels."""

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray

    def __repr__(self) -> str:
        return f"Dataset(train={self.x_train.shape}, test={self.x_test.shape})"


class DatasetCache:
    """Loads each dataset at most once (a failed load is retried by the next job)."""

    def __init__(self, mnist_dir: Path | None, cache_dir: Path | None, allow_download: bool = False) -> None:
        self.mnist_dir = mnist_dir
        self.cache_dir = cache_dir
        self.allow_download = allow_download
        self._lock = threading.Lock()
        self._loaded: dict[str, Dataset] = {}

    def __repr__(self) -> str:
        return f"DatasetCache(mnist_dir={self.mnist_dir!r}, loaded={sorted(self._loaded)})"

    def get(self, name: str) -> Dataset:
        """The dataset `name` ("mnist"), loading it on first use."""
        if name != "mnist":
            raise ValueError(f"unknown dataset {name!r}; the server knows: mnist")
        with self._lock:  # one loader; other jobs wait instead of loading a second copy
            if name not in self._loaded:
                self._loaded[name] = self._load_mnist()
            return self._loaded[name]

    def _load_mnist(self) -> Dataset:
        """Parse MNIST as uint8 through nncore and freeze the arrays."""
        if self.cache_dir is not None:
            Path(self.cache_dir).mkdir(parents=True, exist_ok=True)
        try:
            (x_train, t_train), (x_test, t_test) = load_mnist(
                normalize=False, data_dir=self.mnist_dir, cache_dir=self.cache_dir,
                download=self.allow_download)
        except ValueError as exc:  # a damaged file: nncore names it, we say what to do
            raise ValueError(f"MNIST is unusable: {exc}. Replace the damaged file with an intact "
                             f"copy (or delete it and run the server with --allow-download)") from None
        arrays = [x_train, t_train, x_test, t_test]
        for array in arrays:
            array.flags.writeable = False  # shared by every job: nobody may change it
        log.info("loaded MNIST: %d training and %d test images", len(x_train), len(x_test))
        return Dataset(*arrays)


# --- seam for uploaded datasets (#13 part B); the dataset registry takes this over at merge ---
class WithUploads:
    """Jobs' view of the datasets: an uploaded one by its name, else the cache's built-ins."""

    def __init__(self, cache: DatasetCache, uploads) -> None:
        self.cache, self.uploads = cache, uploads

    def __repr__(self) -> str:
        return f"WithUploads({self.cache!r}, {self.uploads!r})"

    def get(self, name: str) -> Dataset:
        """The dataset `name`: uploads.load(name) for an uploaded one, else the cache's."""
        return self.uploads.load(name) if self.uploads.has(name) else self.cache.get(name)
