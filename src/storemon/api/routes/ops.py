"""Operations: ``/healthz`` (no token needed) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from storemon import __version__
from storemon.api.deps import ServicesDep
from storemon.api.errors import ERROR_RESPONSES, ErrorBody
from storemon.api.metrics import CONTENT_TYPE
from storemon.api.schemas import HealthResponse

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=HealthResponse,
    responses={503: {"model": ErrorBody, "description": "The database does not answer."}},
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
        **ERROR_RESPONSES,
        200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
    },
    summary="Prometheus metrics",
)
async def metrics(app: ServicesDep) -> Response:
    """Reports by status, report and ingest durations, rows ingested and rejected."""
    text = app.metrics.render(app.jobs.in_progress())
    return Response(text, media_type=CONTENT_TYPE)
