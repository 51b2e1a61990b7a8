"""Responses the routes build: a report's answer by its state, and the pieces of it.

Both faces of the API answer a report download the same way (:func:`report_answer`):
200 with the CSV when complete, 202 ``Running`` while queued or running, 500
``Failed`` with the reason. Job look-ups that may touch the database run in a
worker thread, never on the event loop; memory-only look-ups do not.
"""

from __future__ import annotations

from typing import Final, Literal

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from storemon.api.schemas import CompleteJson, FailedReport, RunningReport, warnings_of
from storemon.errors import StoreError
from storemon.jobs import ReportJobs
from storemon.store.base import JobRecord

__all__ = [
    "RETRY_AFTER_SECONDS",
    "csv_response",
    "failed_response",
    "find_job",
    "find_result",
    "report_answer",
    "running_response",
    "warning_header",
]

RETRY_AFTER_SECONDS: Final = "1"


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


def warning_header(job: JobRecord) -> dict[str, str]:
    """``X-Report-Warnings: no_polls, stale_stores`` when the job has warnings (the job JSON,
    ``GET /reports/{id}``, has their messages)."""
    codes = [warning.code for warning in warnings_of(job)]
    return {"X-Report-Warnings": ", ".join(codes)} if codes else {}


def csv_response(job: JobRecord, csv: bytes) -> Response:
    """A complete report as a CSV download."""
    return Response(
        content=csv,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename=report-{job.id}.csv",
            "X-Report-Status": "Complete",
            **warning_header(job),
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


async def report_answer(
    jobs: ReportJobs, report_id: str, *, format: Literal["csv", "json"] = "csv"
) -> Response:
    """The answer to "give me this report": 500 failed, 202 running, else 200 with the
    CSV (``format="json"``: the CSV inside ``{"status": "Complete", ...}``)."""
    job = await find_job(jobs, report_id)
    if job.status == "failed":
        return failed_response(job)
    if job.status != "complete":
        return running_response(job.id)
    csv = await find_result(jobs, job.id)
    if format == "json":
        return Response(
            CompleteJson(report_id=job.id, data=csv.decode()).model_dump_json(),
            media_type="application/json",
            headers={"X-Report-Status": "Complete", **warning_header(job)},
        )
    return csv_response(job, csv)
