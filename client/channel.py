"""Building the SDK's gRPC channel: retry policy, message limits, TLS and bearer tokens."""
from __future__ import annotations

import collections
import json
from typing import Optional, Sequence

import grpc

SERVICE = "nnservice.v1.NNService"
HEALTH_SERVICE = "grpc.health.v1.Health"
#: The largest response the client accepts (long job lists with full histories).
MAX_RECEIVE_BYTES = 64 * 1024 * 1024

# Train is left out on purpose: a Train whose connection broke after the
# server received it may have created a job, and retrying would create a
# second one. gRPC still retries it transparently when it never left the client.
_RETRIED_METHODS = ("GetStatus", "Predict", "WatchJob", "CancelJob", "ListJobs",
                    "ListModels", "GetModel")


def service_config(max_attempts: int = 5, initial_backoff: float = 0.1,
                   max_backoff: float = 2.0) -> str:
    """The gRPC service config (JSON) that retries UNAVAILABLE with exponential backoff."""
    policy = {
        "maxAttempts": max_attempts,
        "initialBackoff": f"{initial_backoff}s",
        "maxBackoff": f"{max_backoff}s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    names = [{"service": SERVICE, "method": m} for m in _RETRIED_METHODS]
    names.append({"service": HEALTH_SERVICE})
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": policy}]})


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    """ClientCallDetails with replaced metadata (grpc's own type is abstract)."""


class BearerTokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                             grpc.StreamUnaryClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call's metadata.

    An interceptor rather than call credentials, because gRPC only sends call
    credentials over TLS and a token must also work on a plaintext dev server.
    """

    def __init__(self, token: str) -> None:
        if not token or any(c in token for c in "\r\n"):
            raise ValueError("token must be a non-empty string without line breaks")
        self._header = ("authorization", f"Bearer {token}")

    def __repr__(self) -> str:
        return "BearerTokenInterceptor(token=<hidden>)"

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = list(details.metadata or ()) + [self._header]
        return _CallDetails(details.method, details.timeout, metadata, details.credentials,
                            getattr(details, "wait_for_ready", None),
                            getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation, client_call_details, request):
        """Send a unary call with the token added."""
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        """Send a server-streaming call with the token added."""
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        """Send a client-streaming call (UploadDataset, ImportModel) with the token added."""
        return continuation(self._details(client_call_details), request_iterator)


def make_channel(
    target: str,
    *,
    root_certificates: Optional[bytes] = None,
    private_key: Optional[bytes] = None,
    certificate_chain: Optional[bytes] = None,
    tls: bool = False,
    token: Optional[str] = None,
    retry_attempts: int = 5,
    options: Sequence[tuple] = (),
) -> grpc.Channel:
    """A channel to `target`: TLS when asked or when any PEM is given; UNAVAILABLE retried.

    `retry_attempts` counts the first try (1 turns retries off; gRPC caps it at 5).
    """
    if (private_key is None) != (certificate_chain is None):
        raise ValueError("private_key and certificate_chain go together (mutual TLS): give both or neither")
    if not 1 <= retry_attempts <= 5:
        raise ValueError(f"retry_attempts must be in 1..5, got {retry_attempts}")
    retries = [("grpc.enable_retries", 0)]
    if retry_attempts > 1:
        retries = [("grpc.enable_retries", 1), ("grpc.service_config", service_config(retry_attempts))]
    all_options = [*retries, ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES), *options]
    if tls or root_certificates or private_key:
        credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
        channel = grpc.secure_channel(target, credentials, options=all_options)
    else:
        channel = grpc.insecure_channel(target, options=all_options)
    if token is not None:
        channel = grpc.intercept_channel(channel, BearerTokenInterceptor(token))
    return channel
