"""Parser for the IDX format of the MNIST files (raw or gzip-compressed)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from types import MappingProxyType

import numpy as np

#: IDX type codes -> big-endian numpy dtypes.
IDX_DTYPES = MappingProxyType(
    {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
     0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
)
_GZIP_MAGIC = b"\x1f\x8b"


def read_maybe_gzip(path: Path) -> bytes:
    """Return the file's bytes, decompressed if it is gzip; a bad gzip stream is a ValueError."""
    raw = Path(path).read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def decode_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Return the array held in IDX bytes; any inconsistency is a ValueError naming `name`."""
    if len(data) < 4:
        raise ValueError(f"{name}: not an IDX file (only {len(data)} bytes)")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{name}: not an IDX file (magic {data[:4].hex()}; expected 0000 + a type code in "
            f"{', '.join(f'{c:02x}' for c in IDX_DTYPES)} + ndim >= 1)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(f"{name}: IDX file {what}: dims {dims} need {expected} bytes, file has {len(data)}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    # A native-order, writable copy: frombuffer over bytes is read-only.
    return arr.astype(dtype.newbyteorder("="))


def parse_idx(path: str | Path) -> np.ndarray:
    """Return the array stored in the IDX file at path (raw or .gz); a bad file is a ValueError naming it."""
    path = Path(path)
    return decode_idx(read_maybe_gzip(path), str(path))
