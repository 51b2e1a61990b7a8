"""The one JSON error shape of the API, and the handlers that produce it.

Every non-2xx response is ``{"error": "<what went wrong and how to fix it>",
"code": "<stable machine-readable code>", "details": [{"loc": ..., "message": ...}]}``
— from storemon errors, FastAPI's validation, unknown routes (404), wrong methods
(405), oversized bodies (413) and missing credentials (401) alike. A failed report
adds ``"status": "Failed"`` and ``"report_id"`` to the same shape.

An error quotes at most :data:`ECHO_LIMIT` characters of anything the client sent
(:func:`echo`), lists at most :data:`MAX_DETAILS` details, and never shows a
database URL (a :class:`StoreError` answers with its ``public`` message; the log
keeps the full one). A route may attach a hint for the client to the error it
raises by setting ``request.state.error_hint``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute

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
    UnknownStore,
)

__all__ = [
    "ECHO_LIMIT",
    "MAX_DETAILS",
    "ErrorBody",
    "ErrorDetail",
    "echo",
    "error_body",
    "error_response",
    "error_responses",
    "install_error_handlers",
    "shorten",
]

log = logging.getLogger(__name__)

#: At most this many characters of a client's input are quoted back in an error.
ECHO_LIMIT: Final = 200
#: At most this many details are listed (a body can hold any number of mistakes).
MAX_DETAILS: Final = 20
#: An error message is cut to this many characters (keeping its start and its end).
_MESSAGE_LIMIT: Final = 1000
_DATABASE_FAILED: Final = "the database failed; the details are in the server log"


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to about ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def echo(value: str, limit: int = ECHO_LIMIT) -> str:
    """``value`` quoted for an error message, cut to ``limit`` characters (saying so)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def _capped(message: str) -> str:
    """A message whose quoted input the raiser did not cut (a CSV header of a 590 kB
    line): its start and end kept, the middle cut."""
    if len(message) <= _MESSAGE_LIMIT:
        return message
    keep = _MESSAGE_LIMIT // 2
    cut = len(message) - 2 * keep
    return f"{message[:keep]} … [{cut:,} characters cut] … {message[-keep // 4 :]}"


class ErrorDetail(BaseModel):
    """One specific problem: where (``query.report_id``, ``body.as_of``, ``header``) and what."""

    loc: str | None = Field(None, description="Where the problem is, dotted.")
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="What went wrong and how to fix it.")
    code: str = Field(description="A stable machine-readable code, e.g. `report_not_found`.")
    details: list[ErrorDetail] = Field(default_factory=list)


_ERROR_DESCRIPTIONS: Final[dict[int, str]] = {
    400: "A value the schema allows but that does not parse; the message says what to fix.",
    401: "Missing or wrong bearer token.",
    404: "No report with this id.",
    410: "The report finished, but its result is past its retention (trigger it again).",
    413: "The body is larger than STOREMON_MAX_BODY_BYTES.",
    422: "The request does not match the schema (type, length, allowed words, fields).",
    429: "Too many reports are queued: try again after `Retry-After` seconds.",
    503: "The database failed or does not answer (`database_error`), or the server is "
    "answering as many requests as it may at once (`server_busy`, with `Retry-After`).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For route declarations: the error answers (in :class:`ErrorBody`) a route gives."""
    return {
        status: {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
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
    return ".".join(shorten(str(part), 60) for part in parts)  # a field name is input too


def _validation_message(error: Mapping[str, object]) -> str:
    if error.get("type") == "missing":
        return "a value is required"
    if error.get("type") == "extra_forbidden":
        return "unknown field (check its spelling)"
    return str(error.get("msg", "invalid value"))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    details = [
        ErrorDetail(loc=_loc(error.get("loc", ())), message=_validation_message(error))
        for error in errors[:MAX_DETAILS]
    ]
    message = "invalid request: " + "; ".join(
        f"{detail.loc}: {detail.message}" for detail in details
    )
    if len(errors) > MAX_DETAILS:
        message += f"; and {len(errors) - MAX_DETAILS:,} more"
    return error_response(422, message, "validation_error", details)


class _AllowedMethods:
    """Every method some route allows on a path (Starlette's 405 names one route's)."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._routes = [
            (regex, frozenset(methods))
            for route in routes
            if (regex := getattr(route, "path_regex", None)) is not None
            and (methods := getattr(route, "methods", None))
        ]

    def __call__(self, path: str) -> list[str]:
        found: set[str] = set()
        for regex, methods in self._routes:
            if regex.match(path):
                found |= methods
        return sorted(found)


def _http_exception_handler(allowed_methods: _AllowedMethods) -> Any:
    async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        code = _HTTP_CODES.get(status, "http_error")
        headers = dict(exc.headers or {})
        if status == 404 and exc.detail == "Not Found":
            message = f"no such endpoint: {request.method} {shorten(request.url.path)} (see /docs)"
        elif status == 405:
            allowed = allowed_methods(request.url.path)
            if allowed:
                headers = {key: value for key, value in headers.items() if key.lower() != "allow"}
                headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed on {shorten(request.url.path)}" + (
                f"; use {' or '.join(allowed)}" if allowed else ""
            )
        else:
            message = str(exc.detail)
        return error_response(status, message, code, headers=headers)

    return on_http_exception


def _status_for(error: StoremonError) -> tuple[int, str]:
    if isinstance(error, MissingColumnError):
        return 422, "missing_column"
    if isinstance(error, IngestError):
        return 400, "file_refused"
    if isinstance(error, UnknownStore):
        return 404, "store_not_found"
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


def _public_message(error: StoremonError) -> str:
    """What the client may read: a StoreError's ``public`` text (no URL, user or host)."""
    if isinstance(error, StoreError):
        return _capped(error.public) if error.public else _DATABASE_FAILED
    return _capped(str(error))


async def _on_storemon_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoremonError)
    status, code = _status_for(exc)
    message = _public_message(exc)
    hint = getattr(request.state, "error_hint", None)
    if isinstance(exc, InputError) and isinstance(hint, str):
        message = f"{message}; {hint}"
    details: list[ErrorDetail] = []
    if isinstance(exc, MissingColumnError):
        column = shorten(exc.column, 60)
        details.append(
            ErrorDetail(loc=f"header.{column}", message=f"lacks the required column '{column}'")
        )
    headers: dict[str, str] = {}
    if isinstance(exc, QueueFull):
        headers["Retry-After"] = str(max(1, exc.retry_after_seconds))
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(status, message, code, details, headers=headers)


async def _on_client_disconnect(request: Request, exc: Exception) -> JSONResponse:
    """The client went away mid-request (mid-upload): one log line, no traceback."""
    log.warning(
        "%s %s: the client disconnected before the request was complete",
        request.method,
        shorten(request.url.path),
    )
    return error_response(400, "the client disconnected", "client_disconnected")


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal server error (see the server log)", "internal_error")


def install_error_handlers(app: FastAPI, *, routes: Iterable[BaseRoute] = ()) -> None:
    """Make every error the API can produce use the one shape; ``routes`` are the
    app's routes (a 405 names every method they allow on the path)."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(
        StarletteHTTPException, _http_exception_handler(_AllowedMethods(routes))
    )
    app.add_exception_handler(ClientDisconnect, _on_client_disconnect)
    app.add_exception_handler(StoremonError, _on_storemon_error)
    app.add_exception_handler(Exception, _on_unexpected)
