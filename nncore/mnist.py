"""load_mnist as in the teaching text: IDX files parsed once, cached as .npz (never pickle).

MNIST ships inside the package (nncore/data/mnist, see its README): with no directory given and
no $NNSVC_MNIST_DIR, the embedded copy is used, so training works offline on a fresh install.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .download import (
    DEFAULT_MIRRORS,
    MNIST_FILES,
    MNIST_SHA256,
    MnistNotFoundError,
    download_mnist,
)
from .idx import parse_idx
from .idxset import IdxSet

__all__ = [
    "load_mnist", "download_mnist", "parse_idx", "MnistNotFoundError", "default_mnist_dir",
    "DEFAULT_MIRRORS", "MNIST_FILES", "MNIST_SHA256", "CACHE_NAME", "MNIST", "EMBEDDED_MNIST_DIR",
]

CACHE_NAME = "mnist.npz"
#: The four MNIST files shipped with the package (package data).
EMBEDDED_MNIST_DIR = Path(__file__).resolve().parent / "data" / "mnist"
MNIST = IdxSet("MNIST", MNIST_SHA256, DEFAULT_MIRRORS, 10, CACHE_NAME, MnistNotFoundError)


def default_mnist_dir() -> Path:
    """Return the per-user cache directory: $XDG_CACHE_HOME/nnservice/mnist or ~/.cache/nnservice/mnist."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nnservice" / "mnist"


def _resolve_data_dir(data_dir: str | Path | None) -> Path:
    """Return the argument, else $NNSVC_MNIST_DIR, else the embedded copy (else default_mnist_dir())."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("NNSVC_MNIST_DIR")
    if env:
        return Path(env)
    return EMBEDDED_MNIST_DIR if MNIST.complete_in(EMBEDDED_MNIST_DIR) else default_mnist_dir()


def _format(x: np.ndarray, t: np.ndarray, normalize: bool, flatten: bool, one_hot_label: bool):
    """Return (x, t) shaped and typed as load_mnist's flags ask."""
    x = x.reshape(x.shape[0], -1) if flatten else x.reshape(x.shape[0], 1, *x.shape[1:])
    if normalize:
        x = x.astype(np.float32)
        x /= np.float32(255)
    if one_hot_label:
        t = np.eye(MNIST.classes, dtype=np.float32)[t]
    return x, t


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, *, cache_dir=None, download=False):
    """Return ((x_train, t_train), (x_test, t_test)) as in the text (float32 [0, 1] or uint8 images)."""
    data_dir = _resolve_data_dir(data_dir)
    if cache_dir is None:  # the package's own folder is never written to: parse it into the user cache
        cache_dir = default_mnist_dir() if data_dir == EMBEDDED_MNIST_DIR else data_dir
    a = MNIST.load(data_dir, Path(cache_dir), download)
    train = _format(a["x_train"], a["t_train"], normalize, flatten, one_hot_label)
    test = _format(a["x_test"], a["t_test"], normalize, flatten, one_hot_label)
    return train, test
