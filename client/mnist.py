"""Read single MNIST test images straight from the IDX files (gzip or plain).

The client must not import nncore, so this is a small reader of its own: it
seeks to one record instead of decompressing the whole set into memory.
"""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

#: The MNIST copy shipped beside the client in the same distribution (nncore/data/mnist): read
#: as files, not imported, so the client still depends on nothing but protos and NumPy.
EMBEDDED_MNIST_DIR = Path(__file__).resolve().parents[1] / "nncore" / "data" / "mnist"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


def resolve_dir(mnist_dir: Optional[Union[str, Path]], environ: Mapping[str, str] = os.environ) -> Path:
    """The MNIST directory from the flag, else NNSVC_MNIST_DIR, else the embedded copy."""
    chosen = mnist_dir or environ.get("NNSVC_MNIST_DIR")
    if chosen:
        return Path(chosen)
    if not EMBEDDED_MNIST_DIR.is_dir():
        raise ValueError("no MNIST directory: pass --mnist-dir DIR or set NNSVC_MNIST_DIR")
    return EMBEDDED_MNIST_DIR


def _open(directory: Path, name: str):
    """Open `name` or `name.gz` in `directory` for binary reading."""
    for candidate, opener in ((directory / f"{name}.gz", gzip.open), (directory / name, open)):
        if candidate.is_file():
            return opener(candidate, "rb"), candidate
    raise FileNotFoundError(f"{directory}: neither {name}.gz nor {name} found")


def _read_header(stream, path: Path, magic: int, ndim: int) -> tuple[int, ...]:
    """Check the IDX magic number and return the dimensions."""
    header = stream.read(4 + 4 * ndim)
    if len(header) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    found, *dims = struct.unpack(f">I{ndim}I", header)
    if found != magic:
        raise ValueError(f"{path}: not an IDX file of this kind (magic {found}, expected {magic})")
    return tuple(dims)


def _read_record(directory: Path, name: str, magic: int, ndim: int, index: int) -> tuple[np.ndarray, int]:
    """Record `index` of an IDX file as uint8, with the number of records."""
    stream, path = _open(directory, name)
    with stream:
        count, *shape = _read_header(stream, path, magic, ndim)
        if not 0 <= index < count:
            raise IndexError(f"MNIST test image index {index} out of range; allowed: 0..{count - 1}")
        size = int(np.prod(shape)) if shape else 1
        stream.seek(4 + 4 * ndim + index * size)
        data = stream.read(size)
    if len(data) != size:
        raise ValueError(f"{path}: truncated at record {index}")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape), count


def load_test_image(directory: Union[str, Path], index: int) -> tuple[np.ndarray, int]:
    """MNIST test image `index` as uint8 [28, 28] and its label (0..9)."""
    directory = Path(directory)
    image, _ = _read_record(directory, TEST_IMAGES, _IMAGES_MAGIC, 3, index)
    label, _ = _read_record(directory, TEST_LABELS, _LABELS_MAGIC, 1, index)
    return image, int(label.reshape(-1)[0])
