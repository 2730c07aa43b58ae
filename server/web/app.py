"""create_app: the FastAPI application of the HTTP front door, one router per concern."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from server.dataplane import DataPlane, server_version
from server.errors import ServiceError
from server.settings import Settings
from server.web import kserve_rest
from server.web.api import build_router as dashboard_api
from server.web.auth import BearerTokenMiddleware
from server.web.dashboard import add_dashboard
from server.web.errors import http_error_handler, service_error_handler
from server.web.metrics_route import router as metrics_router


def create_app(plane: DataPlane, settings: Settings, tokens: tuple[str, ...] = ()) -> FastAPI:
    """The HTTP application over `plane`; with `tokens`, every non-public path needs one of them."""
    app = FastAPI(title="nnservice", version=server_version(),
                  description="Train and serve NumPy neural networks: the KServe v2 REST protocol, "
                              "Prometheus metrics and a live dashboard, beside the gRPC API.",
                  # Swagger UI and ReDoc load their scripts from a CDN, and the server must work
                  # offline: only the document itself, /openapi.json, is served.
                  docs_url=None, redoc_url=None)
    app.state.plane = plane
    app.add_exception_handler(ServiceError, service_error_handler)
    app.add_exception_handler(RequestValidationError, kserve_rest.validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.include_router(kserve_rest.router)

    @app.get("/healthz", tags=["health"], summary="Liveness of the HTTP front door")
    def healthz() -> dict:
        """{"live": true} while the process answers; {"ready": ...} says whether it takes work."""
        return {"live": plane.live(), "ready": plane.ready()}

    app.include_router(metrics_router)  # GET /metrics (#15)
    app.include_router(dashboard_api(plane))
    add_dashboard(app)

    if tokens:
        app.add_middleware(BearerTokenMiddleware, tokens=tokens, open_probes=settings.open_probes)
    return app
