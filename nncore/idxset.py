"""Datasets of four IDX files (MNIST's layout): where they come from, and loading them as uint8."""

from __future__ import annotations

import json
import logging
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np

from ._io import atomic_write
from .download import MNIST_FILES, DatasetNotFoundError, download_idx_files, find_idx_file, not_found_message
from .idx import parse_idx

__all__ = ["IdxSet", "FASHION_MNIST", "FASHION_MNIST_SHA256", "FASHION_MNIST_MIRRORS", "KEYS"]

log = logging.getLogger(__name__)

KEYS = ("x_train", "t_train", "x_test", "t_test")  # same order as MNIST_FILES


@dataclass(frozen=True)
class IdxSet:
    """A dataset stored as MNIST's four IDX files: its checksums, mirrors, classes and cache name."""

    name: str
    checksums: Mapping[str, str]  # sha256 of each DECOMPRESSED file, keyed by MNIST_FILES
    mirrors: tuple[str, ...]
    classes: int
    cache_name: str
    error: type[DatasetNotFoundError] = DatasetNotFoundError

    def __repr__(self) -> str:
        return f"IdxSet({self.name!r}, classes={self.classes})"

    def load(self, data_dir: Path, cache_dir: Path, download: bool = False) -> dict[str, np.ndarray]:
        """The four uint8 arrays keyed by KEYS, from the cache or the IDX files (downloading if allowed)."""
        data_dir, cache_dir = Path(data_dir), Path(cache_dir)
        sources = [find_idx_file(data_dir, name) for name in MNIST_FILES]
        complete = all(p is not None for p in sources)
        cache = cache_dir / self.cache_name
        cached = _read_cache(cache, _stamp(sources) if complete else None, self)
        if cached is not None:
            return cached
        if not complete:
            missing = [name for name, p in zip(MNIST_FILES, sources) if p is None]
            if not download:
                raise self.error(not_found_message(data_dir, f"missing {', '.join(missing)}", self.name))
            download_idx_files(data_dir, mirrors=self.mirrors, checksums=self.checksums,
                               dataset=self.name, error=self.error)
            sources = [find_idx_file(data_dir, name) for name in MNIST_FILES]
        arrays = {key: parse_idx(path) for key, path in zip(KEYS, sources)}
        check_arrays(arrays, {key: str(path) for key, path in zip(KEYS, sources)}, self.classes)
        _write_cache(cache, arrays, _stamp(sources))
        return arrays

    def complete_in(self, data_dir: Path) -> bool:
        """Whether data_dir holds all four files (raw or .gz)."""
        return all(find_idx_file(Path(data_dir), name) is not None for name in MNIST_FILES)


#: sha256 of the decompressed Fashion-MNIST files (Zalando Research, as in Debian's dataset-fashion-mnist).
FASHION_MNIST_SHA256 = MappingProxyType({
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
})
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
FASHION_MNIST = IdxSet("Fashion-MNIST", FASHION_MNIST_SHA256, FASHION_MNIST_MIRRORS, 10, "fashion-mnist.npz")


def _stamp(sources: list[Path]) -> str:
    """Return a string identifying the source files' names, sizes and mtimes."""
    return json.dumps([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sources])


def check_arrays(arrays: dict[str, np.ndarray], names: dict[str, str], classes: int) -> None:
    """Raise ValueError (naming the file) unless images are (N, rows, cols) and labels (N,) uint8 < classes."""
    for split in ("train", "test"):
        x, t = arrays[f"x_{split}"], arrays[f"t_{split}"]
        xname, tname = names[f"x_{split}"], names[f"t_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3:
            raise ValueError(f"{xname}: expected uint8 images of shape (N, rows, cols); got {x.dtype} {x.shape}")
        if t.dtype != np.uint8 or t.ndim != 1:
            raise ValueError(f"{tname}: expected uint8 labels of shape (N,); got {t.dtype} {t.shape}")
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"{tname}: {t.shape[0]} labels for {x.shape[0]} images in {xname}")
        if t.size and int(t.max()) >= classes:
            raise ValueError(f"{tname}: labels must be in 0..{classes - 1}; found {int(t.max())}")


def _read_cache(path: Path, stamp: str | None, spec: IdxSet) -> dict[str, np.ndarray] | None:
    """Return the cached arrays if the cache exists, is intact and matches stamp (when given)."""
    if not path.is_file():
        return None
    try:
        # Our own file object: np.load(path) leaks its handle when the zip is corrupt.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            if stamp is not None and str(npz["stamp"][()]) != stamp:
                log.info("%s cache %s is stale; rebuilding it", spec.name, path)
                return None
            arrays = {key: npz[key] for key in KEYS}
        check_arrays(arrays, {key: str(path) for key in KEYS}, spec.classes)
        return arrays
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable %s cache %s (%s)", spec.name, path, exc)
        return None


def _read_only(directory: Path) -> bool:
    """Return True if directory exists and is not writable or has no write bit set at all."""
    try:
        mode = directory.stat().st_mode
    except OSError:
        return False
    # root ignores permission bits; a directory marked r-x for everyone is still meant read-only.
    return not os.access(directory, os.W_OK) or stat.S_IMODE(mode) & 0o222 == 0


def _write_cache(path: Path, arrays: dict[str, np.ndarray], stamp: str) -> None:
    """Save arrays to path atomically; an unwritable directory only skips the cache."""
    if _read_only(path.parent):
        log.debug("not caching %s: %s is read-only", path.name, path.parent)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Uncompressed: loading 55 MB uncompressed is much faster than inflating it.
        atomic_write(path, lambda f: np.savez(f, stamp=np.array(stamp), **arrays))
    except OSError as exc:
        log.debug("not caching %s in %s (%s)", path.name, path.parent, exc)
