"""Bearer-token authentication: one server interceptor; tokens from a file or NNSVC_AUTH_TOKENS."""

from __future__ import annotations

import hmac
import logging
import re
import stat
from collections.abc import Iterable
from pathlib import Path

import grpc

from server.interceptors import KSERVE_PROBES
from server.settings import Settings

log = logging.getLogger(__name__)

# Health, reflection and KServe's live/ready, left open by default so load balancers and grpcurl can probe.
PROBE_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.", *KSERVE_PROBES)
_MISSING = ("this server needs a bearer token: send the metadata 'authorization: Bearer <token>' "
            "(nnctl --token or NNSVC_TOKEN; NNClient(token=...))")
_MALFORMED = "the authorization metadata must read 'Bearer <token>'"
_WRONG = "the bearer token is not valid for this server"


def read_token_file(path: Path) -> list[str]:
    """Tokens in `path`: one per line; blank lines and lines starting with # are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        mode = Path(path).stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the auth tokens file {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("auth tokens file %s is readable by others (chmod 600 it)", path)
    tokens = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.search(r"\s", line):
            raise ValueError(f"{path}, line {number}: a token may not contain spaces (one token per line)")
        tokens.append(line)
    return tokens


def load_tokens(settings: Settings) -> tuple[str, ...]:
    """Every token the server accepts (file plus environment); ValueError if auth is on but none."""
    tokens = list(settings.auth_tokens)
    if settings.auth_tokens_file is not None:
        tokens += read_token_file(settings.auth_tokens_file)
        if not tokens:
            raise ValueError(f"the auth tokens file {settings.auth_tokens_file} holds no token "
                             "(one per line, # starts a comment); refusing to run without one")
    return tuple(dict.fromkeys(tokens))


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Refuses RPCs without a valid `authorization: Bearer <token>` with UNAUTHENTICATED."""

    def __init__(self, tokens: Iterable[str], open_probes: bool = True) -> None:
        self._tokens = tuple(token.encode() for token in tokens)
        if not self._tokens:
            raise ValueError("TokenAuthInterceptor needs at least one token")
        self._open_probes = open_probes

    def __repr__(self) -> str:
        return f"TokenAuthInterceptor({len(self._tokens)} tokens, open_probes={self._open_probes})"

    def intercept_service(self, continuation, handler_call_details):
        """Pass authenticated calls (and open probes) through; answer the rest UNAUTHENTICATED."""
        method = handler_call_details.method
        if self._open_probes and method.startswith(PROBE_PREFIXES):
            return continuation(handler_call_details)
        problem = self._check(handler_call_details.invocation_metadata)
        handler = continuation(handler_call_details)
        if problem is None or handler is None:
            return handler
        log.warning("rpc %s refused: %s", method, problem)
        return _refusing(handler, problem)

    def _check(self, metadata) -> str | None:
        """None if the metadata carries a valid token, else what is wrong with it."""
        values = [value for key, value in metadata or () if key == "authorization"]
        problem = token_problem(str(values[0]) if values else None, self._tokens)
        return None if problem is None else {"missing": _MISSING, "malformed": _MALFORMED, "wrong": _WRONG}[problem]


def token_problem(value: str | None, tokens: tuple[bytes, ...]) -> str | None:
    """None if `value` reads 'Bearer <one of tokens>'; else "missing", "malformed" or "wrong".

    Shared by the gRPC interceptor and the HTTP middleware, which word the answer each their way."""
    if not value:
        return "missing"
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return "malformed"
    presented, valid = token.encode(), False
    for known in tokens:  # compare with every token: the time says nothing about which
        valid |= hmac.compare_digest(presented, known)
    return None if valid else "wrong"


def _refusing(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that aborts with UNAUTHENTICATED."""
    def refuse(request_or_iterator, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    def refuse_stream(request_or_iterator, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # never reached; makes this a generator like the handler it replaces

    codec = dict(request_deserializer=handler.request_deserializer,
                 response_serializer=handler.response_serializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(refuse, **codec)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse_stream, **codec)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(refuse, **codec)
    return grpc.stream_stream_rpc_method_handler(refuse_stream, **codec)
