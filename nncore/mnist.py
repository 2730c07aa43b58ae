"""load_mnist as in the teaching text: IDX files parsed once, cached as .npz (never pickle)."""

from __future__ import annotations

import json
import logging
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from ._io import atomic_write
from .download import (
    DEFAULT_MIRRORS,
    MNIST_FILES,
    MNIST_SHA256,
    MnistNotFoundError,
    download_mnist,
    find_idx_file,
    not_found_message,
)
from .idx import parse_idx

__all__ = [
    "load_mnist", "download_mnist", "parse_idx", "MnistNotFoundError", "default_mnist_dir",
    "DEFAULT_MIRRORS", "MNIST_FILES", "MNIST_SHA256", "CACHE_NAME",
]

log = logging.getLogger(__name__)

CACHE_NAME = "mnist.npz"
_KEYS = ("x_train", "t_train", "x_test", "t_test")  # same order as MNIST_FILES
_NUM_CLASSES = 10


def default_mnist_dir() -> Path:
    """Return the per-user cache directory: $XDG_CACHE_HOME/nnservice/mnist or ~/.cache/nnservice/mnist."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nnservice" / "mnist"


def _resolve_data_dir(data_dir: str | Path | None) -> Path:
    """Return the argument, else $NNSVC_MNIST_DIR, else default_mnist_dir()."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("NNSVC_MNIST_DIR")
    return Path(env) if env else default_mnist_dir()


def _stamp(sources: list[Path]) -> str:
    """Return a string identifying the source files' names, sizes and mtimes."""
    return json.dumps([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sources])


def _check_arrays(arrays: dict[str, np.ndarray], names: dict[str, str]) -> None:
    """Raise ValueError (naming the file) unless images are (N, rows, cols) and labels (N,) uint8 in 0..9."""
    for split in ("train", "test"):
        x, t = arrays[f"x_{split}"], arrays[f"t_{split}"]
        xname, tname = names[f"x_{split}"], names[f"t_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3:
            raise ValueError(f"{xname}: expected uint8 images of shape (N, rows, cols); got {x.dtype} {x.shape}")
        if t.dtype != np.uint8 or t.ndim != 1:
            raise ValueError(f"{tname}: expected uint8 labels of shape (N,); got {t.dtype} {t.shape}")
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"{tname}: {t.shape[0]} labels for {x.shape[0]} images in {xname}")
        if t.size and int(t.max()) >= _NUM_CLASSES:
            raise ValueError(f"{tname}: labels must be in 0..{_NUM_CLASSES - 1}; found {int(t.max())}")


def _read_cache(path: Path, stamp: str | None) -> dict[str, np.ndarray] | None:
    """Return the cached arrays if the cache exists, is intact and matches stamp (when given)."""
    if not path.is_file():
        return None
    try:
        # Our own file object: np.load(path) leaks its handle when the zip is corrupt.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            if stamp is not None and str(npz["stamp"][()]) != stamp:
                log.info("MNIST cache %s is stale; rebuilding it", path)
                return None
            arrays = {key: npz[key] for key in _KEYS}
        _check_arrays(arrays, {key: str(path) for key in _KEYS})
        return arrays
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable MNIST cache %s (%s)", path, exc)
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
        log.debug("not caching MNIST: %s is read-only", path.parent)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Uncompressed: loading 55 MB uncompressed is much faster than inflating it.
        atomic_write(path, lambda f: np.savez(f, stamp=np.array(stamp), **arrays))
    except OSError as exc:
        log.debug("not caching MNIST in %s (%s)", path.parent, exc)


def _load_uint8(data_dir: Path, cache_dir: Path, download: bool) -> dict[str, np.ndarray]:
    """Return the four uint8 arrays from the cache or the IDX files (downloading if allowed)."""
    sources = [find_idx_file(data_dir, name) for name in MNIST_FILES]
    complete = all(p is not None for p in sources)
    cache = cache_dir / CACHE_NAME
    cached = _read_cache(cache, _stamp(sources) if complete else None)
    if cached is not None:
        return cached
    if not complete:
        missing = [name for name, p in zip(MNIST_FILES, sources) if p is None]
        if not download:
            raise MnistNotFoundError(not_found_message(data_dir, f"missing {', '.join(missing)}"))
        download_mnist(data_dir)
        sources = [find_idx_file(data_dir, name) for name in MNIST_FILES]
    arrays = {key: parse_idx(path) for key, path in zip(_KEYS, sources)}
    _check_arrays(arrays, {key: str(path) for key, path in zip(_KEYS, sources)})
    _write_cache(cache, arrays, _stamp(sources))
    return arrays


def _format(x: np.ndarray, t: np.ndarray, normalize: bool, flatten: bool, one_hot_label: bool):
    """Return (x, t) shaped and typed as load_mnist's flags ask."""
    x = x.reshape(x.shape[0], -1) if flatten else x.reshape(x.shape[0], 1, *x.shape[1:])
    if normalize:
        x = x.astype(np.float32)
        x /= np.float32(255)
    if one_hot_label:
        t = np.eye(_NUM_CLASSES, dtype=np.float32)[t]
    return x, t


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, *, cache_dir=None, download=False):
    """Return ((x_train, t_train), (x_test, t_test)) as in the text (float32 [0, 1] or uint8 images)."""
    data_dir = _resolve_data_dir(data_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else data_dir
    a = _load_uint8(data_dir, cache_dir, download)
    train = _format(a["x_train"], a["t_train"], normalize, flatten, one_hot_label)
    test = _format(a["x_test"], a["t_test"], normalize, flatten, one_hot_label)
    return train, test
