"""The dashboard page at / and its assets under /static (server/web/static, shipped in the wheel)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")


def add_dashboard(app: FastAPI) -> None:
    """Serve index.html at / and the static assets; no CDN, so the page works offline."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        """The dashboard page."""
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})
