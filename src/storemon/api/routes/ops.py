"""Operations: ``/healthz`` (no token needed) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client.exposition import choose_encoder

from storemon import __version__
from storemon.api.deps import ServicesDep
from storemon.api.errors import error_responses
from storemon.api.schemas import HealthResponse

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=HealthResponse,
    responses=error_responses(503),
    summary="Liveness and database check",
)
async def healthz(app: ServicesDep) -> HealthResponse:
    """``ok`` when the server runs and its database answers (never needs a token)."""
    version = await run_in_threadpool(app.store.data_version)
    return HealthResponse(version=__version__, data_version=version)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The metrics in Prometheus' text format (or OpenMetrics on request).",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/openmetrics-text": {"schema": {"type": "string"}},
            },
        },
    },
    summary="Prometheus metrics",
)
async def metrics(request: Request, app: ServicesDep) -> Response:
    """Requests, reports and ingests of this process; the process; the database's polls,
    newest poll age and jobs. Text format 0.0.4, or OpenMetrics when the scraper asks."""
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    # In a thread: the database gauges are read while encoding.
    body = await run_in_threadpool(encode, app.metrics.registry)
    return Response(body, headers={"Content-Type": content_type})
