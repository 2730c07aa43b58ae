"""The one place where domain errors (server.errors) become gRPC status codes, for every servicer."""

from __future__ import annotations

import functools

import grpc

from server.errors import ServiceError


def abort(context: grpc.ServicerContext, exc: ServiceError) -> None:
    """End the RPC with the error's status code and its message."""
    context.abort(exc.code, exc.message)


def unary(method):
    """Map ServiceError raised by a unary (or client-streaming) RPC method to its status code."""
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ServiceError as exc:
            abort(context, exc)
    return wrapper


def stream(method):
    """Map ServiceError raised while producing a response stream to its status code."""
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            yield from method(self, request, context)
        except ServiceError as exc:
            abort(context, exc)
    return wrapper
