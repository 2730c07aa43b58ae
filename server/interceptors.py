"""One server interceptor: a log line per RPC (method, code, ms) and UNAVAILABLE while draining."""

from __future__ import annotations

import logging
import threading
import time

import grpc

log = logging.getLogger("server.rpc")

# KServe v2's own probes: ServerReady must answer (false) while draining, like health.
KSERVE_PROBES = ("/inference.GRPCInferenceService/ServerLive", "/inference.GRPCInferenceService/ServerReady")
# Probes and tooling keep working while draining, so they can see NOT_SERVING.
_ALWAYS_OPEN = ("/grpc.health.v1.", "/grpc.reflection.", *KSERVE_PROBES)
_DRAINING = "the server is shutting down; retry on another instance or after it restarts"


class RpcInterceptor(grpc.ServerInterceptor):
    """Logs every RPC and refuses all but the probes (UNAVAILABLE) once `draining` is set."""

    def __init__(self, draining: threading.Event) -> None:
        self._draining = draining

    def __repr__(self) -> str:
        return f"RpcInterceptor(draining={self._draining.is_set()})"

    def intercept_service(self, continuation, handler_call_details):
        """Wrap the handler's behaviour; non-blocking streams (health Watch) pass through."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        gated = not method.startswith(_ALWAYS_OPEN)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method, gated),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.stream_unary is not None:  # UploadDataset: the same wrapper, over the request stream
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.stream_unary, method, gated),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None and not getattr(handler.unary_stream, "experimental_non_blocking", False):
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, method, gated),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler

    def _unary(self, behavior, method: str, gated: bool):
        """A unary behaviour with the drain gate and the log line."""
        def wrapper(request, context):
            start, ok = time.perf_counter(), False
            try:
                if gated and self._draining.is_set():
                    context.abort(grpc.StatusCode.UNAVAILABLE, _DRAINING)
                response = behavior(request, context)
                ok = True
                return response
            finally:
                _log(method, context, start, ok)
        return wrapper

    def _stream(self, behavior, method: str, gated: bool):
        """A response-streaming behaviour with the drain gate and the log line (at its end)."""
        def wrapper(request, context):
            start, ok = time.perf_counter(), False
            try:
                if gated and self._draining.is_set():
                    context.abort(grpc.StatusCode.UNAVAILABLE, _DRAINING)
                yield from behavior(request, context)
                ok = True
            finally:
                _log(method, context, start, ok)
        return wrapper


def _log(method: str, context: grpc.ServicerContext, start: float, ok: bool) -> None:
    """One line: method, status code, milliseconds."""
    if log.isEnabledFor(logging.INFO):
        code = context.code()
        if code is None:  # not set explicitly: finished, client went away, or an unexpected error
            code = (grpc.StatusCode.OK if ok else grpc.StatusCode.CANCELLED if not context.is_active()
                    else grpc.StatusCode.UNKNOWN)
        log.info("rpc %s %s %.2fms", method, code.name, (time.perf_counter() - start) * 1e3)
