"""Arrays whose data starts on a 64-byte boundary: one cache line, one AVX-512 vector.

NumPy allocates with malloc, which guarantees 16 bytes, so an array starts 0, 16, 32 or 48 bytes
into a cache line depending on the heap. Measured here (docs/performance.md, "Gradient loop
(session 6)"): the text's loop over a net whose parameters start 16 or 48 bytes into a line ran
5-13 % slower than over the very same net with them aligned (SIMD loads and stores then straddle
two lines), which made any comparison of two loops a draw of the heap. So the arrays a network
keeps and rewrites every step (parameters, gradients, the step's buffers) are allocated here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Alignment in bytes of every array made here.
ALIGN = 64


def empty(shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
    """Return an uninitialised C-ordered array of shape and dtype whose data is ALIGN-aligned."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def empty_like(a: np.ndarray) -> np.ndarray:
    """Return an uninitialised aligned array with a's shape and dtype."""
    return empty(a.shape, a.dtype)


def full(shape: int | tuple[int, ...], value: Any, dtype: Any) -> np.ndarray:
    """Return an aligned array of shape and dtype filled with value."""
    out = empty(shape, dtype)
    out.fill(value)
    return out


def copy(a: Any, dtype: Any = None) -> np.ndarray:
    """Return an aligned C-ordered copy of a, cast to dtype (default a's) as np.array would."""
    a = np.asarray(a)
    out = empty(a.shape, a.dtype if dtype is None else dtype)
    np.copyto(out, a, casting="unsafe")
    return out
