"""The original API: ``/trigger_report`` and ``/get_report``, compatible with its clients."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from storemon.api.deps import ReportIdBodyDep, ReportRequestBodyDep, ServicesDep
from storemon.api.errors import echo, error_responses
from storemon.api.params import report_parameters, valid_report_id
from storemon.api.responses import report_answer
from storemon.api.schemas import (
    AS_OF_PATTERN,
    MAX_AS_OF_LENGTH,
    MAX_REPORT_ID_LENGTH,
    REPORT_ID_PATTERN,
    CompleteJson,
    FailedReport,
    ReportIdRequest,
    ReportRequest,
    RunningReport,
    TriggerResponse,
    legacy_status,
)
from storemon.errors import InvalidRequest
from storemon.schema import Interpolation

router = APIRouter(tags=["original API"])

_TRIGGER_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": ReportRequest.model_json_schema()}},
    }
}
_ID_BODY = ReportIdRequest.model_json_schema()
_GET_BODY = {  # the POST form: the id is required in the body (GET takes it in the query)
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    **_ID_BODY,
                    "properties": {
                        **_ID_BODY["properties"],
                        "report_id": {
                            "type": "string",
                            "maxLength": MAX_REPORT_ID_LENGTH,
                            "pattern": REPORT_ID_PATTERN,
                            "description": "The id returned by /trigger_report.",
                        },
                    },
                    "required": ["report_id"],
                }
            }
        },
    }
}


def refine_openapi(document: dict[str, Any]) -> None:
    """Document one form per method: GET takes the query, POST the JSON body.

    The server accepts both on both (the original clients mix them), but a value
    given in both places must agree, which a schema cannot say; and the id that
    ``/get_report`` needs in one place or the other is required in the form shown.
    """
    paths = document.get("paths", {})
    for path in ("/trigger_report", "/get_report"):
        post = paths.get(path, {}).get("post")
        if post is not None:
            post.pop("parameters", None)
    get = paths.get("/get_report", {}).get("get")
    if get is not None:
        for parameter in get.get("parameters", []):
            if parameter.get("name") == "report_id":
                parameter["required"] = True


async def trigger_report(
    app: ServicesDep,
    body: ReportRequestBodyDep,
    as_of: str | None = Query(
        None,
        max_length=MAX_AS_OF_LENGTH,
        json_schema_extra={"pattern": AS_OF_PATTERN},
        description="The report's 'now' (SPEC timestamp); default: the latest poll.",
    ),
    interpolation: Interpolation | None = Query(None, description="Alternative to the body."),
) -> TriggerResponse:
    """Start computing a report and return its id at once.

    An identical request on unchanged data (same as_of, interpolation and data
    version) returns the job already queued, running or complete.
    """
    wanted = report_parameters(app.settings, body, as_of=as_of, interpolation=interpolation)
    outcome = await run_in_threadpool(
        app.jobs.trigger,
        as_of=wanted.as_of,
        interpolation=wanted.interpolation,
        options=wanted.options.to_json(),
    )
    app.metrics.report_triggered(reused=outcome.reused)
    return TriggerResponse(report_id=outcome.job.id, status=legacy_status(outcome.job.status))


_GET_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(400, 404, 410, 422, 503),
    200: {
        "description": "Complete: the CSV (or, with format=json, the CSV inside JSON).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": CompleteJson.model_json_schema()},
        },
    },
    202: {"model": RunningReport, "description": "Queued or running: poll again."},
    500: {"model": FailedReport, "description": "The report failed."},
}


async def get_report(
    app: ServicesDep,
    body: ReportIdBodyDep,
    report_id: str | None = Query(
        None,
        max_length=MAX_REPORT_ID_LENGTH,
        json_schema_extra={"pattern": REPORT_ID_PATTERN},
        description="The id from /trigger_report.",
    ),
    format: Literal["csv", "json"] | None = Query(None, description="`csv` (default) or `json`."),
) -> Response:
    """``Running`` (202) until the report is complete, then the CSV (200)."""
    if body is not None and body.report_id and report_id and body.report_id != report_id:
        raise InvalidRequest(
            f"report_id given twice ({echo(report_id)} in the query, {echo(body.report_id)} "
            "in the body); give it once"
        )
    chosen_id = valid_report_id(report_id or (body.report_id if body else None))
    return await report_answer(
        app.jobs, chosen_id, format=format or (body.format if body else None) or "csv"
    )


# Both methods on both paths, as the original clients use them; one operation id each.
for _method in ("POST", "GET"):
    router.add_api_route(
        "/trigger_report",
        trigger_report,
        methods=[_method],
        response_model=TriggerResponse,
        responses=error_responses(400, 413, 422, 429, 503)
        if _method == "POST"
        else error_responses(400, 422, 429, 503),
        openapi_extra=_TRIGGER_BODY if _method == "POST" else None,
        summary="Start a report",
        operation_id=f"trigger_report_{_method.lower()}",
    )
for _method in ("GET", "POST"):
    router.add_api_route(
        "/get_report",
        get_report,
        methods=[_method],
        response_model=None,
        responses={**_GET_REPORT_RESPONSES, **error_responses(413)}
        if _method == "POST"
        else _GET_REPORT_RESPONSES,
        openapi_extra=_GET_BODY if _method == "POST" else None,
        summary="Poll a report; download it when complete",
        operation_id=f"get_report_{_method.lower()}",
    )
