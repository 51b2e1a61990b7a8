"""The REST face of reports: ``/reports``, ``/reports/{id}``, ``/reports/{id}.csv``."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from storemon.api.deps import ReportRequestBodyDep, ServicesDep
from storemon.api.errors import error_responses
from storemon.api.params import report_parameters, valid_report_id
from storemon.api.responses import find_job, report_answer
from storemon.api.schemas import (
    MAX_REPORT_ID_LENGTH,
    FailedReport,
    ReportInfo,
    ReportRequest,
    RunningReport,
    report_info,
)

router = APIRouter(prefix="/reports", tags=["reports"])

_REPORT_ID = Path(description="The report's id.", max_length=MAX_REPORT_ID_LENGTH)


@router.post(
    "",
    status_code=202,
    response_model=ReportInfo,
    responses=error_responses(400, 413, 422, 429, 503),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": ReportRequest.model_json_schema()}},
        }
    },
    summary="Start a report",
)
async def create_report(app: ServicesDep, body: ReportRequestBodyDep) -> JSONResponse:
    """202 with the job and ``Location: /reports/{id}``; identical requests on unchanged
    data return the existing job."""
    wanted = report_parameters(app.settings, body)
    outcome = await run_in_threadpool(
        app.jobs.trigger,
        as_of=wanted.as_of,
        interpolation=wanted.interpolation,
        options=wanted.options.to_json(),
    )
    app.metrics.report_triggered(reused=outcome.reused)
    location = f"/reports/{outcome.job.id}"
    return JSONResponse(
        report_info(outcome.job).model_dump(mode="json"),
        status_code=202,
        headers={"Location": location},
    )


@router.get(
    "", response_model=list[ReportInfo], responses=error_responses(422, 503), summary="List"
)
async def list_reports(
    app: ServicesDep,
    limit: int = Query(50, ge=1, le=1000, description="How many, newest first."),
) -> list[ReportInfo]:
    """The newest report jobs, newest first."""
    jobs = await run_in_threadpool(app.jobs.list, limit=limit)
    return [report_info(job) for job in jobs]


# Declared before /{report_id}: that pattern would also match "<id>.csv".
@router.get(
    "/{report_id}.csv",
    response_model=None,
    responses={
        **error_responses(404, 410, 422, 503),
        200: {
            "description": "The report.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        202: {"model": RunningReport, "description": "Queued or running: poll again."},
        500: {"model": FailedReport, "description": "The report failed."},
    },
    summary="Download the CSV",
)
async def report_csv_download(app: ServicesDep, report_id: str = _REPORT_ID) -> Response:
    """The CSV when complete; 202 while queued or running; 500 if it failed."""
    return await report_answer(app.jobs, valid_report_id(report_id))


@router.get(
    "/{report_id}",
    response_model=ReportInfo,
    responses=error_responses(404, 422, 503),
    summary="Status and details",
)
async def get_report_info(app: ServicesDep, report_id: str = _REPORT_ID) -> ReportInfo:
    """Status, parameters, the as_of used, times, row count and duration."""
    return report_info(await find_job(app.jobs, valid_report_id(report_id)))
