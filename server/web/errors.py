"""The one place where domain errors (server.errors) become HTTP statuses, for every HTTP route."""

from __future__ import annotations

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from server.errors import ServiceError

# gRPC code -> HTTP status, after google.rpc's mapping (the one grpc-gateway and KServe use).
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status for a gRPC status code (500 for the ones that mean a server fault)."""
    return HTTP_STATUS.get(code, 500)


def error_body(message: str, code: str) -> dict:
    """KServe v2's error object ({"error": message}) plus the gRPC code name, for scripts."""
    return {"error": message, "code": code}


async def service_error_handler(request: Request, exc: ServiceError) -> JSONResponse:
    """Answer a ServiceError with its HTTP status and KServe's {"error": ...} body."""
    return JSONResponse(error_body(exc.message, exc.code.name), status_code=http_status(exc.code))


# HTTP status -> gRPC code name, for the errors the framework raises itself (no such route: 404).
_CODE_OF_STATUS = {**{status: code.name for code, status in reversed(list(HTTP_STATUS.items()))},
                   405: "UNIMPLEMENTED", 413: "RESOURCE_EXHAUSTED"}


async def http_error_handler(request: Request, exc: HTTPException) -> JSONResponse:
    """The framework's own errors (an unknown path, a method a route lacks) in the same body."""
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.url.path!r}: see /openapi.json for this server's routes"
    return JSONResponse(error_body(message, _CODE_OF_STATUS.get(exc.status_code, "UNKNOWN")),
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))
