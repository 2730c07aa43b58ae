"""The one domain error type of the server; the servicer maps it to a gRPC status code."""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """An error a client can act on: a gRPC status code and a message naming what to change."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}, {self.message!r})"


class InvalidArgument(ServiceError):
    """A request field is out of range or malformed."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    """No job or model with that id."""

    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    """The request is valid but the job or model is not in a state that allows it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(ServiceError):
    """A limit (queue length, watchers) is reached; retry later."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(ServiceError):
    """The server is draining; retry against another instance or after the restart."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(ServiceError):
    """Stored data failed its checksum; it will not be served."""

    code = grpc.StatusCode.DATA_LOSS


class AlreadyExists(ServiceError):
    """Something with that name exists already (an uploaded dataset)."""

    code = grpc.StatusCode.ALREADY_EXISTS
