"""KServe v2 (Open Inference Protocol) tensors <-> the data plane's batches and predictions.

One input, "input" (FP32 features or UINT8 pixels, [N, *input shape] or [N, features]); two
outputs, "probabilities" (FP32 [N, classes]) and "class" (INT64 [N]). Raw contents in, raw
contents out (tritonclient reads only raw_output_contents); typed contents in, typed out.
"""

from __future__ import annotations

import struct

import numpy as np

from protos import grpc_predict_v2_pb2 as kpb
from server.dataplane import Prediction
from server.errors import InvalidArgument
from server.tensors import Batch, InputSpec, batch_rows, check_finite

INPUT_NAME = "input"
PROBABILITIES, CLASS = "probabilities", "class"
OUTPUTS = (PROBABILITIES, CLASS)  # answered in this order when the request names none
_ITEMSIZE = {"FP32": 4, "UINT8": 1}
_DATATYPES = {PROBABILITIES: "FP32", CLASS: "INT64"}  # of the outputs
_OUTPUT = kpb.ModelInferResponse.InferOutputTensor


def decode_infer_input(request: kpb.ModelInferRequest, spec: InputSpec, max_rows: int) -> Batch:
    """The request's one input, checked against the model's spec, as (N, features) rows."""
    raws = request.raw_input_contents
    if len(request.inputs) == 1:
        tensor = request.inputs[0]
        # tritonclient's common request, one raw uint8 image, in a few operations (the checks
        # below accept exactly the same requests, in many more).
        if (len(raws) == 1 and tensor.datatype == "UINT8" and len(raw := raws[0]) == spec.features
                and tensor.shape in spec.one_row_shapes and tensor.name == INPUT_NAME
                and not tensor.HasField("contents")):
            return Batch(np.ndarray((1, spec.features), np.uint8, raw), False)
    tensor = _the_input(request)
    rows = batch_rows(tensor.shape, spec, max_rows)
    dtype = tensor.datatype
    if dtype not in _ITEMSIZE:
        raise InvalidArgument(f"input datatype must be FP32 (features) or UINT8 (pixels 0..255); got {dtype!r}")
    count = rows * spec.features
    if raws:
        if tensor.HasField("contents"):
            raise InvalidArgument("input carries both contents and raw_input_contents; send one of them")
        return Batch(_from_raw(raws[0], dtype, rows, spec.features, tensor.shape), False)
    return Batch(_from_contents(tensor, dtype, count).reshape(rows, spec.features), True)


def _the_input(request: kpb.ModelInferRequest):
    """The one input tensor, named "input", and raw contents that match it."""
    if len(request.inputs) != 1:
        raise InvalidArgument(f"the model takes one input, {INPUT_NAME!r}; the request has {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.name != INPUT_NAME:
        raise InvalidArgument(f"unknown input {tensor.name!r}: the model's input is named {INPUT_NAME!r}")
    if len(request.raw_input_contents) > 1:
        raise InvalidArgument(f"raw_input_contents has {len(request.raw_input_contents)} entries "
                              "for 1 input; send one entry per input")
    return tensor


def _from_raw(raw: bytes, dtype: str, rows: int, features: int, shape) -> np.ndarray:
    """Raw little-endian row-major bytes as (rows, features): a view, checked for its length."""
    itemsize = _ITEMSIZE[dtype]
    if len(raw) != rows * features * itemsize:
        raise InvalidArgument(f"raw input has {len(raw)} bytes; shape {list(shape)} of {dtype} "
                              f"needs {rows * features * itemsize}")
    if itemsize == 1:  # pixels: the model's W1 is pre-scaled by 1/255
        return np.frombuffer(raw, dtype=np.uint8).reshape(rows, features)
    x = np.frombuffer(raw, dtype="<f4").reshape(rows, features)
    check_finite(x)
    return x


def _from_contents(tensor, dtype: str, count: int) -> np.ndarray:
    """Typed contents (fp32_contents or uint_contents) as a flat array of `count` values."""
    contents = tensor.contents
    field, values = ("fp32_contents", contents.fp32_contents) if dtype == "FP32" else \
        ("uint_contents", contents.uint_contents)
    others = [f.name for f, _ in contents.ListFields() if f.name != field]
    if others:
        raise InvalidArgument(f"a {dtype} input carries its values in {field}; got {', '.join(others)}")
    if len(values) != count:
        raise InvalidArgument(f"input has {len(values)} values in {field}; shape {list(tensor.shape)} needs {count}")
    if dtype == "FP32":
        x = np.asarray(values, dtype=np.float32)
        check_finite(x)
        return x
    x = np.asarray(values, dtype=np.int64)
    if x.size and int(x.max()) > 255:
        raise InvalidArgument(f"UINT8 values must be 0..255; found {int(x.max())}")
    return x.astype(np.uint8)


def requested_outputs(request: kpb.ModelInferRequest) -> tuple[str, ...]:
    """The output names asked for (all when none), each checked."""
    if not request.outputs:
        return OUTPUTS
    names = tuple(o.name for o in request.outputs)
    if names == OUTPUTS:  # what tritonclient users usually ask for
        return OUTPUTS
    for name in names:
        if name not in _DATATYPES:
            raise InvalidArgument(f"unknown output {name!r}: the model's outputs are {PROBABILITIES!r} and {CLASS!r}")
    if len(set(names)) != len(names):
        raise InvalidArgument(f"output names repeat: {list(names)}; ask for each output once")
    return names


def encode_infer_response(request: kpb.ModelInferRequest, answer: Prediction,
                          outputs: tuple[str, ...]) -> kpb.ModelInferResponse:
    """Prediction -> ModelInferResponse: raw_output_contents if the input came raw, typed otherwise."""
    probs, n = answer.probabilities, len(answer.classes)
    one_row = type(probs) is list  # the batch-1 path: one row of Python floats
    shapes = {PROBABILITIES: (n, len(probs) if one_row else probs.shape[1]), CLASS: (n,)}
    tensors = [_OUTPUT(name=name, datatype=_DATATYPES[name], shape=shapes[name]) for name in outputs]
    raws = ()
    if answer.typed:
        for tensor, name in zip(tensors, outputs):
            if name == PROBABILITIES:
                tensor.contents.fp32_contents[:] = probs if one_row else probs.ravel().tolist()
            else:
                tensor.contents.int64_contents[:] = answer.classes
    else:
        raws = [_raw(name, answer) for name in outputs]
    # One constructor call: cheaper than filling the message field by field.
    return kpb.ModelInferResponse(model_name=request.model_name, model_version="1", id=request.id,
                                  outputs=tensors, raw_output_contents=raws)


def _raw(name: str, answer: Prediction) -> bytes:
    """One output as raw little-endian bytes."""
    if name == CLASS:
        return struct.pack(f"<{len(answer.classes)}q", *answer.classes)
    probs = answer.probabilities
    if type(probs) is list:  # one row of Python floats (the batch-1 path)
        return struct.pack(f"<{len(probs)}f", *probs)
    return np.ascontiguousarray(probs, dtype="<f4").tobytes()


def metadata_response(model_id: str, spec: InputSpec, classes: int) -> kpb.ModelMetadataResponse:
    """ModelMetadata: one input ("input", FP32 or UINT8), two outputs ("probabilities", "class")."""
    tensor = kpb.ModelMetadataResponse.TensorMetadata
    return kpb.ModelMetadataResponse(
        name=model_id, versions=["1"], platform="nnservice_numpy",
        inputs=[tensor(name=INPUT_NAME, datatype="FP32", shape=[-1, *spec.input_shape])],
        outputs=[tensor(name=PROBABILITIES, datatype="FP32", shape=[-1, classes]),
                 tensor(name=CLASS, datatype="INT64", shape=[-1])])
