"""The dataset registry: name -> entry (loader, input shape, classes, class names, checksums).

Each dataset is loaded once per process, as read-only uint8 (or float32) rows shared by every
job. Built in: `mnist` (embedded in nncore) and `fashion-mnist` (found on disk or downloaded);
user datasets come and go through register() / unregister().
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from nncore.idxset import FASHION_MNIST, IdxSet
from nncore.mnist import EMBEDDED_MNIST_DIR, MNIST

from server.errors import FailedPrecondition, InvalidArgument

log = logging.getLogger(__name__)

#: Where Debian's dataset-fashion-mnist package puts the four files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_INPUT_SHAPE = (28, 28)
MNIST_CLASS_NAMES = tuple(str(digit) for digit in range(10))
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
DEFAULT_DATASET = "mnist"
FASHION_DATASET = "fashion-mnist"
#: The built-in datasets' names: both are uint8 images.
BUILTIN_NAMES = (DEFAULT_DATASET, FASHION_DATASET)
#: The dtypes a dataset's examples come in: uint8 pixels (scaled by 1/255) or float32 features.
INPUT_DTYPES = ("uint8", "float32")

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Dataset:
    """Training and test arrays: x as (N, features) uint8 pixels or float32, t as integer labels."""

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray

    def __repr__(self) -> str:
        return f"Dataset(train={self.x_train.shape}, test={self.x_test.shape})"


@dataclass(frozen=True)
class DatasetEntry:
    """What the server knows about a dataset before loading it; `loader` returns its four arrays."""

    name: str
    loader: Callable[[], Arrays] = field(repr=False, compare=False)
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    train_size: int  # the most training rows a job may ask for
    test_size: int   # the most test rows a job may evaluate
    checksums: Mapping[str, str] = field(default_factory=dict, repr=False)
    source: str = ""  # where the data comes from, for people
    builtin: bool = False
    dtype: str = "uint8"  # of its examples (INPUT_DTYPES): what its models take in Predict

    def __post_init__(self) -> None:
        """Reject an entry that could not describe a dataset, naming the field."""
        if not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(f"dataset name must match {NAME_PATTERN.pattern}; got {self.name!r}")
        shape = tuple(int(d) for d in self.input_shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"input_shape must be one or more positive sizes; got {self.input_shape!r}")
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "class_names", tuple(str(n) for n in self.class_names))
        if len(self.class_names) < 2:
            raise ValueError(f"a dataset needs at least 2 classes; {self.name!r} has {len(self.class_names)}")
        if self.train_size < 1 or self.test_size < 1:
            raise ValueError(f"train_size and test_size must be >= 1; got {self.train_size}, {self.test_size}")
        if self.dtype not in INPUT_DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(INPUT_DTYPES)}; got {self.dtype!r}")

    @property
    def classes(self) -> int:
        """Number of classes (labels are 0..classes-1)."""
        return len(self.class_names)

    @property
    def input_size(self) -> int:
        """Features per row: the product of input_shape."""
        return math.prod(self.input_shape)


class DatasetRegistry:
    """Dataset entries by name, each loaded at most once (a failed load is retried by the next job)."""

    def __init__(self, entries: Iterable[DatasetEntry] = ()) -> None:
        self._lock = threading.Lock()  # guards _entries
        self._load_lock = threading.Lock()  # guards _loaded; one loader: other jobs wait for it
        self._entries: dict[str, DatasetEntry] = {}
        # name -> (the entry it was loaded for, its arrays); forks share it (see fork)
        self._loaded: dict[str, tuple[DatasetEntry, Dataset]] = {}
        for entry in entries:
            self.register(entry)

    def fork(self) -> "DatasetRegistry":
        """A registry with the same entries whose later registrations are its own, sharing the
        arrays loaded for the entries they have in common (each server of a test session gets
        its own uploads, and MNIST is parsed once)."""
        child = DatasetRegistry(self.entries())
        child._load_lock, child._loaded = self._load_lock, self._loaded
        return child

    def __repr__(self) -> str:
        return f"DatasetRegistry({self.names()}, loaded={sorted(self._loaded)})"

    def register(self, entry: DatasetEntry) -> None:
        """Add a dataset; FAILED_PRECONDITION if the name is taken."""
        with self._lock:
            if entry.name in self._entries:
                raise FailedPrecondition(f"a dataset named {entry.name!r} already exists")
            self._entries[entry.name] = entry

    def unregister(self, name: str) -> DatasetEntry:
        """Remove a user dataset (and its loaded arrays); built-in ones stay."""
        entry = self.entry(name)
        if entry.builtin:
            raise FailedPrecondition(f"{name!r} is a built-in dataset and cannot be removed")
        with self._lock:
            self._entries.pop(entry.name, None)
        with self._load_lock:
            if self._loaded.get(entry.name, (None,))[0] is entry:
                del self._loaded[entry.name]
        return entry

    def names(self) -> list[str]:
        """Every dataset name, sorted."""
        with self._lock:
            return sorted(self._entries)

    def entries(self) -> list[DatasetEntry]:
        """Every entry, sorted by name."""
        with self._lock:
            return [self._entries[name] for name in sorted(self._entries)]

    def entry(self, name: str) -> DatasetEntry:
        """The entry of `name` ("" means mnist); INVALID_ARGUMENT naming the known datasets."""
        name = name.strip() or DEFAULT_DATASET
        with self._lock:
            entry = self._entries.get(name) or self._entries.get(name.lower())
            if entry is None:
                known = ", ".join(sorted(self._entries))
                raise InvalidArgument(f"unknown dataset {name!r}; the server knows: {known}")
            return entry

    def get(self, name: str) -> Dataset:
        """The arrays of dataset `name`, loading and checking them on first use."""
        entry = self.entry(name)
        with self._load_lock:
            known, data = self._loaded.get(entry.name, (None, None))
            if known is not entry:  # never loaded, or loaded for another entry of that name
                data = _load(entry)
                with self._lock:
                    current = self._entries.get(entry.name)
                if current is entry:  # not unregistered meanwhile
                    self._loaded[entry.name] = (entry, data)
            return data


def model_dataset(meta: dict) -> tuple[str, tuple[int, ...], tuple[str, ...]]:
    """(dataset, input_shape, class_names) from a model.json; models saved before they were recorded are MNIST."""
    return (meta.get("dataset", DEFAULT_DATASET), tuple(meta.get("input_shape", MNIST_INPUT_SHAPE)),
            tuple(meta.get("class_names", MNIST_CLASS_NAMES)))


def model_input_dtype(meta: dict) -> str:
    """The dtype of the data a model was trained on (INPUT_DTYPES), from its model.json; for a
    model saved before it was recorded, uint8 if it learnt a built-in dataset (all pixels), else ""."""
    recorded = meta.get("input_dtype")
    if recorded in INPUT_DTYPES:
        return recorded
    return "uint8" if meta.get("dataset", DEFAULT_DATASET) in BUILTIN_NAMES else ""


def _load(entry: DatasetEntry) -> Dataset:
    """Run the entry's loader, flatten the images to rows, check them, and freeze the arrays."""
    x_train, t_train, x_test, t_test = entry.loader()
    rows = []
    for split, x, t in (("train", x_train, t_train), ("test", x_test, t_test)):
        x = np.ascontiguousarray(x).reshape(len(x), -1)
        if x.shape[1] != entry.input_size:
            raise ValueError(f"dataset {entry.name}: {split} rows have {x.shape[1]} features; its "
                             f"input shape {list(entry.input_shape)} needs {entry.input_size}")
        if x.dtype != entry.dtype:  # its models' Predict trusts the declared dtype
            raise ValueError(f"dataset {entry.name}: {split} examples are {x.dtype}; its entry declares {entry.dtype}")
        if len(t) != len(x) or (len(t) and not 0 <= int(t.min()) <= int(t.max()) < entry.classes):
            raise ValueError(f"dataset {entry.name}: {split} labels must be one per row, in 0..{entry.classes - 1}")
        x.flags.writeable = False  # shared by every job: nobody may change it
        t = np.asarray(t)
        t.flags.writeable = False
        rows += [x, t]
    log.info("loaded dataset %s: %d training and %d test rows", entry.name, len(rows[0]), len(rows[2]))
    return Dataset(*rows)


def _idx_loader(spec: IdxSet, candidates: tuple[Path, ...], download_dir: Path | None,
                cache_dir: Path | None) -> Callable[[], Arrays]:
    """A loader reading spec's IDX files from the first complete folder, else downloading them."""
    def load() -> Arrays:
        """The four arrays, from the first folder that has all four files."""
        found = next((d for d in candidates if spec.complete_in(d)), None)
        folder = found or download_dir or candidates[0]
        cache = cache_dir if cache_dir is not None else folder
        Path(cache).mkdir(parents=True, exist_ok=True)
        try:
            a = spec.load(folder, cache, download=found is None and download_dir is not None)
        except ValueError as exc:  # a damaged file: nncore names it, we say what to do
            raise ValueError(f"{spec.name} is unusable: {exc}. Replace the damaged file with an intact "
                             f"copy (or delete it and run the server with --allow-download)") from None
        except FileNotFoundError as exc:
            looked = ", ".join(str(d) for d in candidates)
            raise type(exc)(f"{exc} (looked in: {looked})") from None
        return a["x_train"], a["t_train"], a["x_test"], a["t_test"]
    return load


def builtin_registry(mnist_dir: Path | None, data_dir: Path, cache_dir: Path | None,
                     allow_download: bool = False) -> DatasetRegistry:
    """A registry of the built-in datasets: mnist (embedded unless mnist_dir) and fashion-mnist."""
    mnist_folder = Path(mnist_dir) if mnist_dir is not None else EMBEDDED_MNIST_DIR
    mnist = DatasetEntry(
        name=DEFAULT_DATASET, input_shape=MNIST_INPUT_SHAPE, class_names=MNIST_CLASS_NAMES,
        train_size=60000, test_size=10000, checksums=MNIST.checksums, builtin=True,
        source=f"MNIST handwritten digits (LeCun, Cortes, Burges) in {mnist_folder}",
        loader=_idx_loader(MNIST, (mnist_folder,),
                           mnist_folder if allow_download and mnist_dir is not None else None, cache_dir))
    fashion_dir = Path(data_dir) / FASHION_DATASET
    fashion = DatasetEntry(
        name=FASHION_DATASET, input_shape=(28, 28), class_names=FASHION_MNIST_CLASSES,
        train_size=60000, test_size=10000, checksums=FASHION_MNIST.checksums, builtin=True,
        source=f"Fashion-MNIST (Zalando Research) in {fashion_dir} or {DEBIAN_FASHION_MNIST_DIR}",
        loader=_idx_loader(FASHION_MNIST, (fashion_dir, DEBIAN_FASHION_MNIST_DIR),
                           fashion_dir if allow_download else None, cache_dir))
    return DatasetRegistry([mnist, fashion])
