"""One server interceptor: counts every RPC by (method, code), logs the ones worth a line
(errors, slow calls; all at DEBUG), and answers UNAVAILABLE while draining."""

from __future__ import annotations

import collections
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


class CallCounter:
    """Exact counts of finished RPCs per (method, status code name), safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter = collections.Counter()

    def __repr__(self) -> str:
        return f"CallCounter({sum(self._counts.values())} calls)"

    def add(self, method: str, code: str) -> None:
        """Count one finished call."""
        with self._lock:
            self._counts[method, code] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        """A copy of the counts: {(method, code): calls}."""
        with self._lock:
            return dict(self._counts)


class RpcInterceptor(grpc.ServerInterceptor):
    """Counts and logs RPCs and refuses all but the probes (UNAVAILABLE) once `draining` is set.

    A call gets a log line (INFO) if it failed or a unary call took `slow_ms` or longer; every
    call gets one at DEBUG. Streams (WatchJob) are long by nature and never count as slow.
    """

    def __init__(self, draining: threading.Event, counter: CallCounter | None = None,
                 slow_ms: float = 1000.0) -> None:
        self._draining = draining
        self.counter = counter or CallCounter()
        self._slow_ms = slow_ms

    def __repr__(self) -> str:
        return f"RpcInterceptor(draining={self._draining.is_set()}, slow_ms={self._slow_ms})"

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
                self._done(method, context, start, ok, self._slow_ms)
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
                self._done(method, context, start, ok, float("inf"))
        return wrapper

    def _done(self, method: str, context: grpc.ServicerContext, start: float, ok: bool,
              slow_ms: float) -> None:
        """Count the call, and log it if it failed, was slow, or DEBUG is on."""
        ms = (time.perf_counter() - start) * 1e3
        code = context.code()
        if code is None:  # not set explicitly: finished, client went away, or an unexpected error
            code = (grpc.StatusCode.OK if ok else grpc.StatusCode.CANCELLED if not context.is_active()
                    else grpc.StatusCode.UNKNOWN)
        self.counter.add(method, code.name)
        slow = ms >= slow_ms
        level = logging.INFO if code != grpc.StatusCode.OK or slow else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "rpc %s %s %.2fms%s", method, code.name, ms, " (slow)" if slow else "",
                    extra={"method": method, "code": code.name, "ms": round(ms, 3)})
