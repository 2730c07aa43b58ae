"""The one place where domain errors (server.errors) become HTTP statuses, for every HTTP route."""

from __future__ import annotations

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse

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
