"""KServe v2 (Open Inference Protocol) gRPC tensors <-> the data plane's batches and predictions.

The protocol's rules (names, datatypes, shapes, value checks) are server/kserve_rules.py's, shared
with the REST form; this module only reads and writes the protobuf messages. Raw contents in, raw
contents out (tritonclient reads only raw_output_contents); typed contents in, typed out.
"""

from __future__ import annotations

import numpy as np

from protos import grpc_predict_v2_pb2 as kpb
from server.dataplane import Prediction
from server.errors import InvalidArgument
from server.kserve_rules import (INPUT_NAME, OUTPUT_DATATYPES, PROBABILITIES, check_input, check_values,
                                 from_raw, model_metadata, output_shapes, probabilities_list, raw_output)
from server.kserve_rules import requested_outputs as checked_outputs
from server.tensors import Batch, InputSpec

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
    tensor, rows = check_input(request.inputs, spec, max_rows)
    if len(raws) > 1:
        raise InvalidArgument(f"raw_input_contents has {len(raws)} entries for 1 input; send one entry per input")
    dtype = tensor.datatype
    if raws:
        if tensor.HasField("contents"):
            raise InvalidArgument("input carries both contents and raw_input_contents; send one of them")
        return Batch(from_raw(raws[0], dtype, rows, spec.features, tensor.shape), False)
    return Batch(_from_contents(tensor, dtype, rows * spec.features).reshape(rows, spec.features), True)


def _from_contents(tensor, dtype: str, count: int) -> np.ndarray:
    """Typed contents (fp32_contents or uint_contents) as a flat array of `count` values."""
    contents = tensor.contents
    field, values = ("fp32_contents", contents.fp32_contents) if dtype == "FP32" else \
        ("uint_contents", contents.uint_contents)
    others = [f.name for f, _ in contents.ListFields() if f.name != field]
    if others:
        raise InvalidArgument(f"a {dtype} input carries its values in {field}; got {', '.join(others)}")
    x = np.asarray(values, dtype=np.float32 if dtype == "FP32" else np.int64)
    return check_values(x, dtype, count, tensor.shape, field)


def requested_outputs(request: kpb.ModelInferRequest) -> tuple[str, ...]:
    """The output names asked for (all when none), each checked."""
    return checked_outputs(tuple(o.name for o in request.outputs))


def encode_infer_response(request: kpb.ModelInferRequest, answer: Prediction,
                          outputs: tuple[str, ...]) -> kpb.ModelInferResponse:
    """Prediction -> ModelInferResponse: raw_output_contents if the input came raw, typed otherwise."""
    shapes = output_shapes(answer)
    tensors = [_OUTPUT(name=name, datatype=OUTPUT_DATATYPES[name], shape=shapes[name]) for name in outputs]
    raws = ()
    if answer.typed:
        for tensor, name in zip(tensors, outputs):
            if name == PROBABILITIES:
                tensor.contents.fp32_contents[:] = probabilities_list(answer)
            else:
                tensor.contents.int64_contents[:] = answer.classes
    else:
        raws = [raw_output(name, answer) for name in outputs]
    # One constructor call: cheaper than filling the message field by field.
    return kpb.ModelInferResponse(model_name=request.model_name, model_version="1", id=request.id,
                                  outputs=tensors, raw_output_contents=raws)


def metadata_response(model_id: str, spec: InputSpec, classes: int) -> kpb.ModelMetadataResponse:
    """ModelMetadata as its protobuf message."""
    meta = model_metadata(model_id, spec, classes)
    tensor = kpb.ModelMetadataResponse.TensorMetadata
    return kpb.ModelMetadataResponse(
        name=meta["name"], versions=meta["versions"], platform=meta["platform"],
        inputs=[tensor(**t) for t in meta["inputs"]], outputs=[tensor(**t) for t in meta["outputs"]])
