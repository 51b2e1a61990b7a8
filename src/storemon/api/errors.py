"""The one JSON error shape of the API, and the handlers that produce it.

Every non-2xx response is ``{"error": "<what went wrong and how to fix it>",
"code": "<stable machine-readable code>", "details": [{"loc": ..., "message": ...}]}``
— from storemon errors, FastAPI's validation, unknown routes (404), wrong methods
(405), oversized bodies (413) and missing credentials (401) alike. A failed report
adds ``"status": "Failed"`` and ``"report_id"`` to the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from storemon.errors import (
    ConfigError,
    IngestError,
    InputError,
    MissingColumnError,
    QueueFull,
    ReportExpired,
    ReportNotFound,
    StoreError,
    StoremonError,
)

__all__ = [
    "ERROR_RESPONSES",
    "ErrorBody",
    "ErrorDetail",
    "error_body",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """One specific problem: where (``query.report_id``, ``body.as_of``, ``header``) and what."""

    loc: str | None = Field(None, description="Where the problem is, dotted.")
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="What went wrong and how to fix it.")
    code: str = Field(description="A stable machine-readable code, e.g. `report_not_found`.")
    details: list[ErrorDetail] = Field(default_factory=list)


#: For route declarations: the error responses every route may give.
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorBody, "description": "A bad parameter; the message says what to fix."},
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
    422: {"model": ErrorBody, "description": "The request does not match the schema."},
}

_HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def error_body(message: str, code: str, details: Sequence[ErrorDetail] = ()) -> dict[str, object]:
    """The error shape as a plain dict."""
    return ErrorBody(error=message, code=code, details=list(details)).model_dump()


def error_response(
    status_code: int,
    message: str,
    code: str,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON response in the one error shape."""
    return JSONResponse(
        error_body(message, code, details), status_code=status_code, headers=headers
    )


def _loc(parts: Sequence[object]) -> str:
    return ".".join(str(part) for part in parts)


def _validation_message(error: Mapping[str, object]) -> str:
    if error.get("type") == "missing":
        return "a value is required"
    if error.get("type") == "extra_forbidden":
        return "unknown field (check its spelling)"
    return str(error.get("msg", "invalid value"))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(loc=_loc(error.get("loc", ())), message=_validation_message(error))
        for error in exc.errors()
    ]
    message = "invalid request: " + "; ".join(
        f"{detail.loc}: {detail.message}" for detail in details
    )
    return error_response(422, message, "validation_error", details)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "http_error")
    if status == 404 and exc.detail == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow") or ""
        message = f"{request.method} is not allowed on {request.url.path}" + (
            f"; use {allowed}" if allowed else ""
        )
    else:
        message = str(exc.detail)
    return error_response(status, message, code, headers=exc.headers)


def _status_for(error: StoremonError) -> tuple[int, str]:
    if isinstance(error, MissingColumnError):
        return 422, "missing_column"
    if isinstance(error, IngestError):
        return 400, "file_refused"
    if isinstance(error, InputError):
        return 400, "invalid_request"
    if isinstance(error, ReportNotFound):
        return 404, "report_not_found"
    if isinstance(error, ReportExpired):
        return 410, "report_expired"
    if isinstance(error, QueueFull):
        return 429, "queue_full"
    if isinstance(error, StoreError):
        return 503, "database_error"
    if isinstance(error, ConfigError):
        return 500, "config_error"
    return 500, "storemon_error"


async def _on_storemon_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoremonError)
    status, code = _status_for(exc)
    details: list[ErrorDetail] = []
    if isinstance(exc, MissingColumnError):
        details.append(ErrorDetail(loc=f"header.{exc.column}", message=str(exc)))
    headers: dict[str, str] = {}
    if isinstance(exc, QueueFull):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    message = str(exc)
    if isinstance(exc, StoreError):
        message = exc.public  # the URL, user, host and database stay in the log
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(status, message, code, details, headers=headers or None)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal server error (see the server log)", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the API can produce use the one shape."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(StoremonError, _on_storemon_error)
    app.add_exception_handler(Exception, _on_unexpected)
