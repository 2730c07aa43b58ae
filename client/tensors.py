"""Image batches to and from nnservice.v1.Tensor, and splitting a batch into requests."""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from protos import nn_service_pb2 as pb

#: What a PredictRequest costs beyond its pixel bytes (model id, shape, tags), generously.
REQUEST_OVERHEAD = 1024


def one_input_shapes(input_shape: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """The shapes one input of a model may have: input_shape itself and its flat form."""
    shape = tuple(int(d) for d in input_shape)
    return (shape, (math.prod(shape),)) if shape else ()


def as_image_batch(images, input_shapes: Sequence[tuple[int, ...]] = (), *, pixels: bool = True) -> np.ndarray:
    """Inputs as an array the server accepts: uint8 pixels, or finite float32 (in [0, 1] when
    `pixels`: a model trained on pixels takes them scaled so; False for float features).

    One input (a shape in `input_shapes`, the model's: see one_input_shapes)
    becomes a batch of one. Other shapes pass through unchanged: the server is
    the judge of shapes and answers INVALID_ARGUMENT. The dtype and the float
    range are checked here, because only the client knows how it will encode them
    (a float 0..255 image would reach a pixel model as valid, and wrong, floats).
    """
    array = np.asarray(images)
    if array.shape in input_shapes:
        array = array[np.newaxis]
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype.kind != "f":
        raise ValueError(
            f"images must be uint8 pixels (0..255) or floats in [0, 1]; got dtype {array.dtype}"
            if pixels else f"inputs must be floats (features) or uint8 pixels; got dtype {array.dtype} "
            "(cast them, e.g. x.astype(np.float32))"
        )
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.size:
        if not np.isfinite(array).all():
            raise ValueError("float images must be finite numbers in [0, 1]; got NaN or inf" if pixels
                             else "float inputs must be finite numbers; got NaN or inf")
        low, high = float(array.min()), float(array.max())
        if pixels and (low < 0.0 or high > 1.0):
            raise ValueError(
                f"float images must be in [0, 1]; got values in [{low:g}, {high:g}] "
                "(pass uint8 for 0..255 pixels)"
            )
    return array


def encode_images(array: np.ndarray) -> pb.Tensor:
    """A uint8 or float32 array as a raw_data Tensor (uint8 is 4x smaller on the wire)."""
    if array.dtype == np.uint8:
        dtype, data = pb.DTYPE_UINT8, array.tobytes()
    else:
        dtype, data = pb.DTYPE_FLOAT32, array.astype("<f4", copy=False).tobytes()
    return pb.Tensor(shape=list(array.shape), dtype=dtype, raw_data=data)


def decode_tensor(tensor: pb.Tensor) -> np.ndarray:
    """A Tensor as a NumPy array of its shape: float32 (float_data, FLOAT32) or uint8."""
    shape = tuple(tensor.shape)
    count = 1
    for dim in shape:
        count *= dim
    dtype = tensor.dtype
    raw = tensor.raw_data  # read once: every read of a bytes field copies it
    if len(tensor.float_data):
        array = np.asarray(tensor.float_data, dtype=np.float32)
    elif dtype == pb.DTYPE_UINT8:
        array = np.frombuffer(raw, dtype=np.uint8)
    elif dtype in (pb.DTYPE_FLOAT32, pb.DTYPE_UNSPECIFIED):
        if len(raw) % 4:
            raise ValueError(f"raw float32 data of {len(raw)} bytes is not a multiple of 4")
        array = np.frombuffer(raw, dtype="<f4").astype(np.float32)  # a writable, native copy
    else:
        raise ValueError(f"unknown tensor dtype {dtype}")
    if not shape:
        count = 0
    if array.size != count:
        raise ValueError(f"tensor of shape {list(shape)} needs {count} elements, got {array.size}")
    return array.reshape(shape)


def rows_per_request(array: np.ndarray, max_request_bytes: int, max_rows: int) -> int:
    """How many rows of `array` fit in one request of at most `max_request_bytes`."""
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize if array.ndim > 1 else 0
    budget = max_request_bytes - REQUEST_OVERHEAD
    if row_bytes > budget:
        raise ValueError(
            f"one image takes {row_bytes} bytes, more than the request budget of {max_request_bytes} bytes"
        )
    by_size = budget // row_bytes if row_bytes else max_rows
    return max(1, min(max_rows, by_size))


def split_rows(array: np.ndarray, max_request_bytes: int, max_rows: int) -> Iterator[np.ndarray]:
    """Consecutive row slices of `array`, each small enough for one request.

    An empty or 1-D array is yielded whole, once, so the server still sees it
    (and rejects it, if it is invalid).
    """
    if array.ndim < 2 or array.shape[0] == 0:
        yield array
        return
    step = rows_per_request(array, max_request_bytes, max_rows)
    for start in range(0, array.shape[0], step):
        yield array[start:start + step]
