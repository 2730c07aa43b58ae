"""Tensor messages <-> NumPy arrays for Predict, without copying the payload."""

from __future__ import annotations

import math
import struct
from typing import NamedTuple

import numpy as np

from protos import nn_service_pb2 as pb
from server.errors import InvalidArgument

MAX_ABS_INPUT = 1e6  # far beyond pixel scale; keeps scores finite in float32
_DTYPE_NAMES = {pb.DTYPE_UNSPECIFIED: "UNSPECIFIED (float32)", pb.DTYPE_FLOAT32: "FLOAT32",
                pb.DTYPE_UINT8: "UINT8"}


class InputSpec:
    """The inputs a model accepts, [N, *input_shape] or [N, features], precomputed once per model
    so that the batch-1 check stays a few operations; also the class names its answers can carry."""

    __slots__ = ("input_shape", "features", "one_row_shapes", "shapes_text", "class_names", "pixels")

    def __init__(self, input_shape: tuple[int, ...], class_names: tuple[str, ...] = (), *,
                 pixels: bool = True) -> None:
        self.input_shape = tuple(int(d) for d in input_shape)
        self.features = math.prod(self.input_shape)
        self.one_row_shapes = ([1, self.features], [1, *self.input_shape])
        flat, full = f"[N, {self.features}]", f"[N, {', '.join(map(str, self.input_shape))}]"
        self.shapes_text = flat if flat == full else f"{flat} or {full}"
        self.class_names = tuple(class_names)
        # False for a model trained on float32 features: uint8 input, scaled as pixels, would be wrong
        self.pixels = pixels

    def __repr__(self) -> str:
        kind = "" if self.pixels else ", float features only"
        return f"InputSpec({self.shapes_text}, {len(self.class_names)} class names{kind})"


#: Why uint8 rows are refused by a model trained on float32 features (InputSpec.pixels False).
FLOAT_FEATURES_ONLY = ("this model was trained on float32 features, not uint8 pixels: send the input as "
                       "float32 (nnservice FLOAT32, KServe FP32), values as in its dataset")


class Batch(NamedTuple):
    """A decoded Predict input: rows of the model's features, and how the answer should be encoded."""

    x: np.ndarray          # (N, features) float32 or uint8, possibly a read-only view of the message
    as_floats: bool        # answer with float_data (input came as float_data)

    @property
    def is_uint8(self) -> bool:
        """Whether the rows are raw pixels 0..255."""
        return self.x.dtype == np.uint8


def batch_rows(tensor_shape, spec: InputSpec, max_rows: int) -> int:
    """Check a request's input shape (any protocol's) against the model's; the number of rows N."""
    shape = tuple(tensor_shape)
    if len(shape) < 2 or (shape[1:] != spec.input_shape and shape[1:] != (spec.features,)):
        raise InvalidArgument(f"input shape must be {spec.shapes_text} for this model; got {list(shape)}")
    rows = shape[0]
    if rows < 1:
        raise InvalidArgument(f"input batch is empty: shape {list(shape)}; send 1 to {max_rows} rows")
    if rows > max_rows:
        raise InvalidArgument(f"input has {rows} rows; at most {max_rows} are allowed per request")
    return rows


def decode_input(tensor: pb.Tensor, spec: InputSpec, max_rows: int) -> Batch:
    """Validate a Predict input tensor against the model's spec and view it as (N, features)."""
    raw = tensor.raw_data  # read once: every read of a bytes field copies it out of the message
    features = spec.features
    # The SDK's common request, one uint8 image, checked in a few operations (the full checks
    # below accept exactly the same requests, in ten times as many).
    if (len(raw) == features and tensor.dtype == pb.DTYPE_UINT8 and tensor.shape in spec.one_row_shapes
            and not tensor.float_data):
        return Batch(np.ndarray((1, features), np.uint8, raw), False)
    rows = batch_rows(tensor.shape, spec, max_rows)
    n_floats = len(tensor.float_data)
    if n_floats and raw:
        raise InvalidArgument("input must carry exactly one of float_data or raw_data, not both")
    if not (n_floats or raw):
        raise InvalidArgument(f"input has shape {list(tensor.shape)} but no float_data or raw_data")
    dtype = tensor.dtype
    if dtype not in _DTYPE_NAMES:
        raise InvalidArgument(f"input dtype must be one of {', '.join(_DTYPE_NAMES.values())}; got {dtype}")
    if n_floats:
        return Batch(_from_floats(tensor, rows, features, n_floats), as_floats=True)
    itemsize = 1 if dtype == pb.DTYPE_UINT8 else 4
    if len(raw) != rows * features * itemsize:
        raise InvalidArgument(f"raw_data has {len(raw)} bytes; shape {list(tensor.shape)} "
                              f"of {_DTYPE_NAMES[dtype]} needs {rows * features * itemsize}")
    if itemsize == 1:  # pixels: a view of the message bytes; the model's W1 is pre-scaled by 1/255
        return Batch(np.frombuffer(raw, dtype=np.uint8).reshape(rows, features), False)
    x = np.frombuffer(raw, dtype="<f4").reshape(rows, features)
    check_finite(x)
    return Batch(x, False)


def _from_floats(tensor: pb.Tensor, rows: int, features: int, n_floats: int) -> np.ndarray:
    """float_data as (N, features) float32 (one conversion from the packed field)."""
    if tensor.dtype == pb.DTYPE_UINT8:
        raise InvalidArgument("float_data is float32: dtype must be FLOAT32 or UNSPECIFIED, not UINT8")
    if n_floats != rows * features:
        raise InvalidArgument(f"float_data has {n_floats} values; shape "
                              f"{list(tensor.shape)} needs {rows * features}")
    x = np.asarray(tensor.float_data, dtype=np.float32).reshape(rows, features)
    check_finite(x)
    return x


def check_finite(x: np.ndarray) -> None:
    """Reject NaN, Inf and absurd magnitudes (two reductions, no temporary array)."""
    low, high = float(x.min()), float(x.max())  # NaN propagates through min/max
    if not (-MAX_ABS_INPUT <= low and high <= MAX_ABS_INPUT):
        raise InvalidArgument(f"input values must be finite and within [-{MAX_ABS_INPUT:g}, "
                              f"{MAX_ABS_INPUT:g}] (pixels scaled to [0, 1]); found min {low}, max {high}")


def encode_probabilities(probs: np.ndarray, as_floats: bool) -> pb.Tensor:
    """(N, classes) probabilities -> Tensor, as float_data or raw little-endian float32."""
    shape = list(probs.shape)
    if as_floats:
        return pb.Tensor(shape=shape, dtype=pb.DTYPE_FLOAT32, float_data=probs.ravel().tolist())
    raw = np.ascontiguousarray(probs, dtype="<f4").tobytes()
    return pb.Tensor(shape=shape, dtype=pb.DTYPE_FLOAT32, raw_data=raw)


def encode_row(probs: list[float], as_floats: bool) -> pb.Tensor:
    """One row of probabilities (Python floats) -> a [1, classes] Tensor, like encode_probabilities."""
    shape = (1, len(probs))
    if as_floats:
        return pb.Tensor(shape=shape, dtype=pb.DTYPE_FLOAT32, float_data=probs)
    return pb.Tensor(shape=shape, dtype=pb.DTYPE_FLOAT32, raw_data=struct.pack(f"<{len(probs)}f", *probs))


def encode_array(x: np.ndarray, *, as_floats: bool = False) -> pb.Tensor:
    """A (N, ...) float32 or uint8 array -> Tensor (for tests and tools)."""
    if x.dtype == np.uint8:
        return pb.Tensor(shape=list(x.shape), dtype=pb.DTYPE_UINT8, raw_data=x.tobytes())
    x = np.ascontiguousarray(x, dtype="<f4")
    if as_floats:
        return pb.Tensor(shape=list(x.shape), dtype=pb.DTYPE_FLOAT32, float_data=x.ravel().tolist())
    return pb.Tensor(shape=list(x.shape), dtype=pb.DTYPE_FLOAT32, raw_data=x.tobytes())
