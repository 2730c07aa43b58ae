"""GET /metrics: the server's Prometheus metrics (server/metrics.py), for a Prometheus scrape."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.errors import NotFound

router = APIRouter(tags=["metrics"])
METRICS_OFF = ("metrics are off on this server (started with --no-metrics or NNSVC_METRICS=false); "
               "start it with --metrics to scrape /metrics")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, responses={
    200: {"description": "Prometheus text format 0.0.4, or OpenMetrics 1.0 when the Accept header asks",
          "content": {"text/plain": {}, "application/openmetrics-text": {}}},
    404: {"description": "metrics are off (--no-metrics)"}})
def metrics(request: Request) -> Response:
    """Every metric of this server; bearer-token guarded like the rest when tokens are set."""
    meters = request.app.state.plane.metrics
    if meters is None:
        raise NotFound(METRICS_OFF)
    # A plain def: FastAPI runs it on its thread pool, so the job-store count never blocks the loop.
    body, content_type = meters.exposition(request.headers.get("accept", ""))
    return Response(body, headers={"content-type": content_type})
