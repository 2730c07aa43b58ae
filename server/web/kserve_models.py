"""Pydantic models of the KServe v2 REST messages, so /openapi.json describes the protocol's JSON."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

# Tensor data: numbers in row-major order, flat or nested by the shape (the protocol allows both).
# Typed as a plain list so a 784-value image costs one list copy here, and one np.asarray later,
# rather than a per-value check; the values are checked in bulk by server.kserve_rules.
TensorData = Annotated[list[Any], WithJsonSchema({
    "type": "array", "description": "values in row-major order, flat or nested by the shape",
    "items": {"anyOf": [{"type": "number"}, {"type": "array", "items": {}}]}})]
Parameters = Annotated[dict[str, Any], Field(description="protocol parameters: accepted and ignored")]


class ErrorBody(BaseModel):
    """An error: the protocol's {"error": message}, and the gRPC status code's name."""

    error: str
    code: str = Field(description="the gRPC status code name, e.g. INVALID_ARGUMENT")


class Live(BaseModel):
    """GET /v2/health/live."""

    live: bool


class Ready(BaseModel):
    """GET /v2/health/ready and a model's /ready: 200 when true, an error status when false."""

    ready: bool


class ServerMetadata(BaseModel):
    """GET /v2: the server's name, version and the protocol extensions it implements."""

    name: str
    version: str
    extensions: list[str]


class TensorMetadata(BaseModel):
    """One input or output of a model: name, datatype and shape (-1 for any size)."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    """GET /v2/models/{name}: the model's versions, platform, input and outputs."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class RequestInput(BaseModel):
    """One input tensor of an infer request."""

    name: str = Field(description='the model\'s one input is "input"')
    shape: list[int] = Field(description="[N, *input shape] or [N, features]")
    datatype: str = Field(description="FP32 (features) or UINT8 (pixels 0..255)")
    parameters: Parameters | None = Field(None, description="binary_data_size: the values are the request's "
                                          "binary part (Triton's binary tensor extension)")
    data: TensorData | None = Field(None, description="the values, unless they come as binary")


class RequestOutput(BaseModel):
    """An output the request asks for (all when the request names none)."""

    name: str = Field(description='"probabilities" or "class"')
    parameters: Parameters | None = Field(None, description="binary_data: true answers this output as raw bytes")


class InferRequest(BaseModel):
    """POST /v2/models/{name}/infer."""

    id: str | None = Field(None, description="echoed in the response")
    parameters: Parameters | None = Field(None, description="binary_data_output: true answers every output "
                                          "not asked otherwise as raw bytes")
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    """One output tensor of an infer response."""

    name: str
    datatype: Literal["FP32", "INT64"]
    shape: list[int]
    parameters: dict[str, int] | None = Field(None, description="binary_data_size, for an output sent as raw bytes")
    data: list[float] | list[int] | None = None


class InferResponse(BaseModel):
    """The answer to an infer request: the outputs asked for, in the order asked."""

    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]


class RepositoryIndexRequest(BaseModel):
    """POST /v2/repository/index (Triton's model repository extension); the body is optional."""

    ready: bool = Field(False, description="list only the models that are READY")


class RepositoryModel(BaseModel):
    """One model of the repository index."""

    name: str
    version: str
    state: Literal["READY", "UNAVAILABLE"]
    reason: str


def inline_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with its $defs inlined, for an operation's requestBody in OpenAPI
    (a route that parses its own body has no component schema; these models are not recursive)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node
    return resolve(schema)
