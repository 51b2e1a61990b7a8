"""What routes share: the services of the running app, body parsing, job look-ups.

Everything that touches the database or the engine runs in a worker thread
(``run_in_threadpool``), never on the event loop; memory-only look-ups do not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from storemon.api.metrics import Metrics
from storemon.api.schemas import FailedReport, ReportRequest, RunningReport
from storemon.config import Settings
from storemon.errors import InvalidRequest, StoreError
from storemon.ingest.timestamps import parse_instant
from storemon.jobs import ReportJobs
from storemon.schema import Interpolation
from storemon.store.base import JobRecord, Store

__all__ = [
    "MAX_REPORT_ID_LENGTH",
    "Services",
    "csv_response",
    "failed_response",
    "find_job",
    "find_result",
    "json_body",
    "report_parameters",
    "running_response",
    "services",
    "valid_report_id",
]

Model = TypeVar("Model", bound=BaseModel)

MAX_REPORT_ID_LENGTH: Final = 128
RETRY_AFTER_SECONDS: Final = "1"
#: An offset whose '+' an unencoded query string turned into a space.
_PLUS_AS_SPACE: Final = re.compile(r"\d\d:\d\d(:\d\d(\.\d+)?)? \d\d:?\d\d$")


@dataclass(frozen=True)
class Services:
    """The objects a running app serves from (``app.state.services``)."""

    settings: Settings
    store: Store
    jobs: ReportJobs
    metrics: Metrics


async def services(request: Request) -> Services:
    """FastAPI dependency: the app's services (set up by its lifespan).

    ``async`` on purpose: FastAPI runs plain ``def`` dependencies in a worker
    thread, a thread hop on every request for a dictionary look-up.
    """
    found = getattr(request.app.state, "services", None)
    if not isinstance(found, Services):
        raise RuntimeError("the app is not started: use it inside its lifespan")
    return found


async def json_body(request: Request, model: type[Model]) -> Model | None:
    """The request body as ``model``, or None when empty.

    Any content type is accepted as long as the bytes are JSON: plain ``curl -d``
    sends JSON labelled as a form.
    """
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidRequest(
            f"the request body is not valid JSON ({error}); send a JSON object such as "
            '{"as_of": "2023-01-25 18:00:00 UTC"} or no body at all'
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = [
            {**item, "loc": ("body", *item["loc"])}
            for item in error.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None


def _pick(name: str, from_body: str | None, from_query: str | None) -> str | None:
    if from_body is not None and from_query is not None and from_body != from_query:
        raise InvalidRequest(
            f"{name} given twice with different values ({from_query!r} in the query, "
            f"{from_body!r} in the body); give it once"
        )
    return from_body if from_body is not None else from_query


def report_parameters(
    settings: Settings,
    body: ReportRequest | None,
    *,
    as_of: str | None = None,
    interpolation: Interpolation | None = None,
) -> tuple[datetime | None, Interpolation]:
    """The as_of (parsed, UTC) and interpolation of a report request, defaults applied."""
    as_of_text = _pick("as_of", body.as_of if body else None, as_of)
    chosen = _pick("interpolation", body.interpolation if body else None, interpolation)
    parsed: datetime | None = None
    if as_of_text is not None and as_of_text.strip():
        try:
            parsed = parse_instant(as_of_text)
        except InvalidRequest as error:
            hint = ""
            if as_of_text is as_of and _PLUS_AS_SPACE.search(as_of_text):
                hint = (
                    "; in a query string a '+' reads as a space: write the offset as "
                    "%2B05:30, or send as_of in the JSON body"
                )
            raise InvalidRequest(f"as_of: {error}{hint}") from None
    final: Interpolation = (
        "nearest"
        if chosen == "nearest"
        else "previous"
        if chosen == "previous"
        else settings.interpolation
    )
    return parsed, final


def valid_report_id(report_id: str | None) -> str:
    """The trimmed id, or InvalidRequest saying how to pass one."""
    text = (report_id or "").strip()
    if not text:
        raise InvalidRequest(
            "report_id is missing: pass ?report_id=<id> or the JSON body "
            '{"report_id": "<id>"}, with the id that /trigger_report returned'
        )
    if len(text) > MAX_REPORT_ID_LENGTH:
        raise InvalidRequest(
            f"report_id is {len(text)} characters long; ids are at most "
            f"{MAX_REPORT_ID_LENGTH} (use the id that /trigger_report returned)"
        )
    return text


async def find_job(jobs: ReportJobs, report_id: str) -> JobRecord:
    """The job (memory first, else the database in a thread). Raises ReportNotFound."""
    job = jobs.cached(report_id)
    if job is None:
        job = await run_in_threadpool(jobs.get, report_id)
    return job


async def find_result(jobs: ReportJobs, report_id: str) -> bytes:
    """The CSV of a job known to be complete."""
    csv = jobs.cached_result(report_id)
    if csv is None:
        csv = await run_in_threadpool(jobs.result, report_id)
    if csv is None:  # complete without a stored CSV: the database lost it
        raise StoreError(f"report {report_id} is complete but its CSV is missing; trigger it again")
    return csv


def csv_response(report_id: str, csv: bytes) -> Response:
    """A complete report as a CSV download."""
    return Response(
        content=csv,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename=report-{report_id}.csv",
            "X-Report-Status": "Complete",
        },
    )


def running_response(report_id: str) -> JSONResponse:
    """202: the report is queued or running; poll again."""
    return JSONResponse(
        RunningReport(report_id=report_id).model_dump(),
        status_code=202,
        headers={"Retry-After": RETRY_AFTER_SECONDS, "X-Report-Status": "Running"},
    )


def failed_response(job: JobRecord) -> JSONResponse:
    """500: the report failed; the error shape plus status and id."""
    body = FailedReport(report_id=job.id, error=job.error or "the report failed")
    return JSONResponse(body.model_dump(), status_code=500, headers={"X-Report-Status": "Failed"})
