"""Request parameters interpreted: report ids, as_of and interpolation, echoed safely.

Pure functions of the values a route received; no I/O. What a schema can state
(types, lengths, allowed words) is validated by FastAPI/pydantic from
:mod:`storemon.api.schemas` and answers 422; what only parsing can tell (a date
that does not exist, a value given twice) answers 400 from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from storemon.api.errors import echo
from storemon.api.schemas import ReportRequest
from storemon.config import Settings
from storemon.engine.options import ReportOptions, report_options
from storemon.errors import InvalidRequest
from storemon.ingest.timestamps import parse_instant
from storemon.schema import Interpolation

__all__ = ["ReportParameters", "report_parameters", "valid_report_id"]

#: An offset whose '+' an unencoded query string turned into a space.
_PLUS_AS_SPACE: Final = re.compile(r"\d\d:\d\d(:\d\d(\.\d+)?)? \d\d:?\d\d$")


def _pick(name: str, from_body: str | None, from_query: str | None) -> str | None:
    if from_body is not None and from_query is not None and from_body != from_query:
        raise InvalidRequest(
            f"{name} given twice with different values ({echo(from_query)} in the query, "
            f"{echo(from_body)} in the body); give it once"
        )
    return from_body if from_body is not None else from_query


@dataclass(frozen=True)
class ReportParameters:
    """A report request, parsed and with defaults applied."""

    as_of: datetime | None
    interpolation: Interpolation
    options: ReportOptions


def report_parameters(
    settings: Settings,
    body: ReportRequest | None,
    *,
    as_of: str | None = None,
    interpolation: Interpolation | None = None,
) -> ReportParameters:
    """The as_of (parsed, UTC), interpolation and options of a report request."""
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
    options = report_options(
        windows=body.windows if body else None,
        extended=bool(body.extended) if body else False,
        observed_within_minutes=body.observed_within_minutes if body else None,
        unobserved=body.unobserved if body else None,
    )
    return ReportParameters(parsed, final, options)


def valid_report_id(report_id: str | None) -> str:
    """The trimmed id, or InvalidRequest saying how to pass one.

    Its length is capped by the schema (``MAX_REPORT_ID_LENGTH``; 422 over it) in
    the query, the path and the body alike.
    """
    text = (report_id or "").strip()
    if not text:
        raise InvalidRequest(
            "report_id is missing: pass ?report_id=<id> or the JSON body "
            '{"report_id": "<id>"}, with the id that /trigger_report returned'
        )
    return text
