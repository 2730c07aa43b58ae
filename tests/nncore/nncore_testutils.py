"""Helpers for nncore tests: tiny IDX writers, the shared MNIST path, a relative-error helper."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from nncore.download import MNIST_FILES
from nncore.mnist import EMBEDDED_MNIST_DIR

#: The MNIST copy shipped inside the package (nncore/data/mnist).
MNIST_DIR = EMBEDDED_MNIST_DIR

_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
          np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """Return arr encoded in the IDX format (big-endian, as in the MNIST files)."""
    arr = np.asarray(arr)
    big = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    header = bytes([0, 0, _CODES[big.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + big.tobytes()


def write_idx(path: Path, arr: np.ndarray, *, gz: bool = False) -> Path:
    """Write arr as an IDX file (gzip-compressed if gz) and return the path."""
    data = idx_bytes(arr)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def fake_mnist(n_train: int = 12, n_test: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Return tiny random MNIST-shaped uint8 arrays keyed like MNIST_FILES."""
    rng = np.random.default_rng(seed)
    return {
        MNIST_FILES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        MNIST_FILES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        MNIST_FILES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        MNIST_FILES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_fake_mnist(directory: Path, *, gz: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the four tiny IDX files into directory and return their arrays."""
    arrays = fake_mnist(seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        write_idx(directory / (f"{name}.gz" if gz else name), arr, gz=gz)
    return arrays


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Return max|a - b| relative to the larger of max|a| and max|b| (scale-aware, no 0/0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b)) / scale)
