"""KServe v2 (Open Inference Protocol) rules shared by its gRPC and REST forms, free of any wire format.

One input, "input" (FP32 features or UINT8 pixels, [N, *input shape] or [N, features]); two
outputs, "probabilities" (FP32 [N, classes]) and "class" (INT64 [N]); one version per model, "1".
server/kserve_tensors.py (protobuf) and server/web/kserve_rest.py (JSON) translate their messages
to these checks, so both forms accept and refuse exactly the same requests.
"""

from __future__ import annotations

import struct
from typing import Any, Sequence

import numpy as np

from server.dataplane import DataPlane, ModelState, Prediction
from server.errors import InvalidArgument, NotFound
from server.tensors import InputSpec, batch_rows, check_finite

MODEL_VERSION = "1"
PLATFORM = "nnservice_numpy"
# The protocol's extensions nnservice implements (Triton's name for the repository index).
EXTENSIONS = ("model_repository",)
INPUT_NAME = "input"
PROBABILITIES, CLASS = "probabilities", "class"
OUTPUTS = (PROBABILITIES, CLASS)  # answered in this order when the request names none
ITEMSIZE = {"FP32": 4, "UINT8": 1}  # the input datatypes accepted, and their bytes per value
OUTPUT_DATATYPES = {PROBABILITIES: "FP32", CLASS: "INT64"}


def check_version(model_id: str, version: str) -> None:
    """Each model has one version, "1" (an empty version means it)."""
    if version and version != MODEL_VERSION:
        raise NotFound(f"model {model_id!r} has no version {version!r}: its only version is "
                       f"{MODEL_VERSION!r} (or leave the version empty)")


def check_input(inputs: Sequence, spec: InputSpec, max_rows: int) -> tuple[Any, int]:
    """The request's one input (anything with .name, .shape and .datatype), checked; it and its rows N."""
    if len(inputs) != 1:
        raise InvalidArgument(f"the model takes one input, {INPUT_NAME!r}; the request has {len(inputs)}")
    tensor = inputs[0]
    if tensor.name != INPUT_NAME:
        raise InvalidArgument(f"unknown input {tensor.name!r}: the model's input is named {INPUT_NAME!r}")
    rows = batch_rows(tensor.shape, spec, max_rows)
    if tensor.datatype not in ITEMSIZE:
        raise InvalidArgument("input datatype must be FP32 (features) or UINT8 (pixels 0..255); "
                              f"got {tensor.datatype!r}")
    return tensor, rows


def check_values(x: np.ndarray, datatype: str, count: int, shape, field: str) -> np.ndarray:
    """Typed values (any protocol's) as a flat float32 or uint8 array of `count`, checked."""
    if x.size != count:
        raise InvalidArgument(f"input has {x.size} values in {field}; shape {list(shape)} needs {count}")
    if datatype == "FP32":
        x = x.astype(np.float32, copy=False).ravel()
        check_finite(x)
        return x
    low, high = (int(x.min()), int(x.max())) if x.size else (0, 0)
    if low < 0 or high > 255:
        raise InvalidArgument(f"UINT8 values must be 0..255; found {low if low < 0 else high}")
    return x.astype(np.uint8).ravel()


def from_raw(raw: bytes, dtype: str, rows: int, features: int, shape) -> np.ndarray:
    """Raw little-endian row-major bytes (any protocol's) as (rows, features): a view, checked."""
    itemsize = ITEMSIZE[dtype]
    if len(raw) != rows * features * itemsize:
        raise InvalidArgument(f"raw input has {len(raw)} bytes; shape {list(shape)} of {dtype} "
                              f"needs {rows * features * itemsize}")
    if itemsize == 1:  # pixels: the model's W1 is pre-scaled by 1/255
        return np.frombuffer(raw, dtype=np.uint8).reshape(rows, features)
    x = np.frombuffer(raw, dtype="<f4").reshape(rows, features)
    check_finite(x)
    return x


def requested_outputs(names: tuple[str, ...]) -> tuple[str, ...]:
    """The output names asked for (all when none), each checked."""
    if not names or names == OUTPUTS:  # none, or what tritonclient users usually ask for
        return OUTPUTS
    for name in names:
        if name not in OUTPUT_DATATYPES:
            raise InvalidArgument(f"unknown output {name!r}: the model's outputs are {PROBABILITIES!r} and {CLASS!r}")
    if len(set(names)) != len(names):
        raise InvalidArgument(f"output names repeat: {list(names)}; ask for each output once")
    return names


def output_shapes(answer: Prediction) -> dict[str, tuple[int, ...]]:
    """Each output's shape for a prediction of N rows."""
    probs, n = answer.probabilities, len(answer.classes)
    width = len(probs) if type(probs) is list else probs.shape[1]  # a list: the batch-1 path's one row
    return {PROBABILITIES: (n, width), CLASS: (n,)}


def probabilities_list(answer: Prediction) -> list[float]:
    """The probabilities as one flat row-major list of Python floats."""
    probs = answer.probabilities
    return probs if type(probs) is list else probs.ravel().tolist()


def raw_output(name: str, answer: Prediction) -> bytes:
    """One output as raw little-endian bytes."""
    if name == CLASS:
        return struct.pack(f"<{len(answer.classes)}q", *answer.classes)
    probs = answer.probabilities
    if type(probs) is list:  # one row of Python floats (the batch-1 path)
        return struct.pack(f"<{len(probs)}f", *probs)
    return np.ascontiguousarray(probs, dtype="<f4").tobytes()


def model_metadata(model_id: str, spec: InputSpec, classes: int) -> dict:
    """ModelMetadata: one input ("input", FP32 or UINT8), two outputs ("probabilities", "class")."""
    return {"name": model_id, "versions": [MODEL_VERSION], "platform": PLATFORM,
            "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, *spec.input_shape]}],
            "outputs": [{"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, classes]},
                        {"name": CLASS, "datatype": "INT64", "shape": [-1]}]}


def repository_index(plane: DataPlane, repository_name: str, ready_only: bool) -> list[ModelState]:
    """Triton's RepositoryIndex: every model (or only the READY ones) of the one repository."""
    if repository_name:
        raise NotFound(f"no repository {repository_name!r}: nnservice has one; leave repository_name empty")
    return [state for state in plane.model_index() if state.ready or not ready_only]


def index_entry(state: ModelState) -> dict:
    """One model of the repository index: name, version, state (READY or UNAVAILABLE) and reason."""
    return {"name": state.model_id, "version": MODEL_VERSION,
            "state": "READY" if state.ready else "UNAVAILABLE", "reason": state.reason}
