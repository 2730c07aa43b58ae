"""Bearer tokens for the HTTP front door: the same tokens, and the same open probes, as gRPC."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi.responses import JSONResponse

from server.auth import token_problem
from server.web.errors import error_body

# Always open: the page itself and its assets (it asks for a token when the API needs one),
# and the OpenAPI description (it holds no data; Swagger UI's /docs is not served).
PUBLIC_PATHS = ("/", "/favicon.ico", "/openapi.json")
PUBLIC_PREFIXES = ("/static/",)
# Open with open_probes, like gRPC health and KServe ServerLive/ServerReady.
PROBE_PATHS = ("/v2/health/live", "/v2/health/ready", "/healthz")
MISSING = ("this server needs a bearer token: send the header 'Authorization: Bearer <token>' "
           "(the dashboard asks for it)")
MALFORMED = "the Authorization header must read 'Bearer <token>'"
WRONG = "the bearer token is not valid for this server"


def is_open(path: str, open_probes: bool) -> bool:
    """Whether `path` answers without a token."""
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return True
    return open_probes and path in PROBE_PATHS


def check_authorization(header: str | None, tokens: tuple[bytes, ...]) -> str | None:
    """None if `header` carries a valid bearer token, else what is wrong with it."""
    problem = token_problem(header, tokens)
    return None if problem is None else {"missing": MISSING, "malformed": MALFORMED, "wrong": WRONG}[problem]


class BearerTokenMiddleware:
    """ASGI middleware: 401 with a JSON error for requests without a valid token.

    Pure ASGI rather than BaseHTTPMiddleware, so streamed answers (server-sent events) pass
    through unbuffered."""

    def __init__(self, app, tokens: Iterable[str], open_probes: bool = True) -> None:
        self.app = app
        self._tokens = tuple(token.encode() for token in tokens)
        if not self._tokens:
            raise ValueError("BearerTokenMiddleware needs at least one token")
        self._open_probes = open_probes

    def __repr__(self) -> str:
        return f"BearerTokenMiddleware({len(self._tokens)} tokens, open_probes={self._open_probes})"

    async def __call__(self, scope, receive, send) -> None:
        """Pass authenticated requests (and open paths) through; answer the rest 401."""
        if scope["type"] != "http" or is_open(scope["path"], self._open_probes):
            await self.app(scope, receive, send)
            return
        header = next((value.decode("latin-1") for key, value in scope["headers"]
                       if key == b"authorization"), None)
        problem = check_authorization(header, self._tokens)
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = JSONResponse(error_body(problem, "UNAUTHENTICATED"), status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="nnservice"'})
        await response(scope, receive, send)
