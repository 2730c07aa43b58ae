"""KServe v2 REST (the Open Inference Protocol's HTTP/JSON form) <-> the data plane.

The same DataPlane calls, and the same rules (server/kserve_rules.py), as the gRPC form in
server/kserve.py: a request either form accepts, the other accepts too, with the same answer.
"""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from server.dataplane import DataPlane, Prediction
from server.errors import Unavailable
from server.kserve_rules import (EXTENSIONS, check_version, index_entry, model_metadata, repository_index,
                                 requested_outputs)
from server.web.errors import error_body
from server.web.kserve_json import InferBody, decode_input, encode_response, parse_infer
from server.web.kserve_models import (ErrorBody, InferRequest, InferResponse, Live, ModelMetadata, Ready,
                                      RepositoryIndexRequest, RepositoryModel, ServerMetadata, inline_schema)

DRAINING = "the server is shutting down; retry on another instance or after it restarts"
# "4XX" also keeps FastAPI from documenting its 422, which these routes answer as 400 instead.
ERRORS = {"4XX": {"model": ErrorBody, "description": "400: a bad request (the message names the field); "
                  "401: a bearer token is needed; 404: no such model or version"},
          503: {"model": ErrorBody, "description": "the server is draining"}}
NOT_READY = {400: {"model": Ready, "description": "the model is not ready (still training, or damaged files)"}}
INFER_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": inline_schema(InferRequest)}}}}
INLINE_ROWS = 8  # infer requests of at most this many rows answer on the event loop


async def plane_of(request: Request) -> DataPlane:
    """The application's data plane (async: no thread-pool hop for a dependency this small)."""
    return request.app.state.plane


async def taking_work(plane: DataPlane = Depends(plane_of)) -> DataPlane:
    """The data plane, or 503 while the server drains (like gRPC's UNAVAILABLE); probes stay open."""
    if not plane.ready():
        raise Unavailable(DRAINING)
    return plane


# Clients of the protocol (tritonclient among them) often send JSON without a Content-Type.
router = APIRouter(prefix="/v2", tags=["KServe v2"], strict_content_type=False, responses=ERRORS)


# The probes and infer are async: they answer on the event loop, without the thread-pool hop
# (~0.1 ms here) that FastAPI gives a plain def; the routes that may load a model from disk
# (metadata, readiness, the index) stay plain functions, run in the pool.
@router.get("/health/live", response_model=Live, summary="Server liveness")
async def server_live(plane: DataPlane = Depends(plane_of)) -> dict:
    """{"live": true} while the process answers."""
    return {"live": plane.live()}


@router.get("/health/ready", response_model=Ready, summary="Server readiness (503 while draining)",
            responses={503: {"model": Ready, "description": "draining: not taking work"}})
async def server_ready(plane: DataPlane = Depends(plane_of)):
    """200 {"ready": true} while the server takes work; 503 {"ready": false} once it drains."""
    ready = plane.ready()
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.get("", response_model=ServerMetadata, summary="Server metadata")
def server_metadata(plane: DataPlane = Depends(taking_work)) -> dict:
    """The server's name, version and the protocol extensions it implements."""
    return {**plane.server_metadata(), "extensions": list(EXTENSIONS)}


@router.get("/models/{name}", response_model=ModelMetadata, summary="Model metadata")
def model_metadata_route(name: str, plane: DataPlane = Depends(taking_work)) -> dict:
    """One model's version, input and outputs."""
    spec, classes = plane.signature(name)
    return model_metadata(name, spec, classes)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, summary="Model version metadata")
def model_version_metadata(name: str, version: str, plane: DataPlane = Depends(taking_work)) -> dict:
    """One model version's input and outputs (each model has one version, "1")."""
    check_version(name, version)
    return model_metadata_route(name, plane)


@router.get("/models/{name}/ready", response_model=Ready, summary="Model readiness", responses=NOT_READY)
def model_ready(name: str, plane: DataPlane = Depends(taking_work)):
    """200 {"ready": true} for a model that loads; 400 {"ready": false} while its job trains or
    its files are damaged; 404 for a name that names nothing."""
    ready = plane.model_ready(name)
    return JSONResponse({"ready": ready}, status_code=200 if ready else 400)


@router.get("/models/{name}/versions/{version}/ready", response_model=Ready, summary="Model version readiness",
            responses=NOT_READY)
def model_version_ready(name: str, version: str, plane: DataPlane = Depends(taking_work)):
    """A model version's readiness, like the model's."""
    check_version(name, version)
    return model_ready(name, plane)


@router.post("/models/{name}/infer", response_model=InferResponse, summary="Inference", openapi_extra=INFER_BODY)
async def infer(name: str, request: Request, plane: DataPlane = Depends(taking_work)):
    """Probabilities and classes for the request's input (FP32 features or UINT8 pixels)."""
    return await answer_infer(plane, name, await parse_infer(request))


@router.post("/models/{name}/versions/{version}/infer", response_model=InferResponse, summary="Inference",
             openapi_extra=INFER_BODY)
async def infer_version(name: str, version: str, request: Request, plane: DataPlane = Depends(taking_work)):
    """Inference on a model version (each model has one version, "1")."""
    check_version(name, version)
    return await answer_infer(plane, name, await parse_infer(request))


async def answer_infer(plane: DataPlane, name: str, body: InferBody) -> Response:
    """Predict through the data plane; the outputs asked for, as the protocol's JSON (or binary)."""
    outputs = requested_outputs(tuple(o.name for o in body.request.outputs or ()))
    max_rows = plane.settings.max_predict_rows

    def predict() -> Prediction:
        return plane.predict(name, lambda spec: decode_input(body, spec, max_rows), protocol="kserve-http")
    inputs = body.request.inputs
    shape = inputs[0].shape if len(inputs) == 1 else ()
    # A few rows answer on the event loop (a hop to the thread pool costs more than their forward
    # pass); bigger batches go to the pool, so the loop keeps serving the other requests meanwhile.
    answer = predict() if shape and shape[0] <= INLINE_ROWS else await run_in_threadpool(predict)
    return encode_response(name, body.request, answer, outputs)


@router.post("/repository/index", response_model=list[RepositoryModel], summary="Model repository index")
def repository(body: RepositoryIndexRequest | None = Body(None), plane: DataPlane = Depends(taking_work)) -> list:
    """Every model with its state: READY, or UNAVAILABLE and why (Triton's extension)."""
    states = repository_index(plane, "", body is not None and body.ready)
    return [index_entry(state) for state in states]


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """400 (not FastAPI's 422) with the protocol's {"error": ...}, naming the first bad field."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": ""}
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "json_invalid":
        message = f"the request body is not valid JSON ({first.get('ctx', {}).get('error', first['msg'])})"
    elif tuple(first["loc"]) == ("body",) and first["type"] in ("model_type", "model_attributes_type"):
        message = 'the request body must be a JSON object, e.g. {"inputs": [...]}'
    else:
        message = f"{where}: {first['msg']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return JSONResponse(error_body(message, "INVALID_ARGUMENT"), status_code=400)
