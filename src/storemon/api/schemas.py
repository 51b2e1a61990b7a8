"""Request and response models of the HTTP API (pydantic, at the edge only)."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from storemon.api.errors import ErrorDetail
from storemon.engine.options import ReportOptions, Unobserved
from storemon.jobs.summary import stored_warnings
from storemon.schema import Interpolation, Source
from storemon.store.base import JobRecord, JobStatus

__all__ = [
    "AS_OF_PATTERN",
    "MAX_AS_OF_LENGTH",
    "MAX_FILE_NAME_LENGTH",
    "MAX_REPORT_ID_LENGTH",
    "REPORT_ID_PATTERN",
    "CompleteJson",
    "FailedReport",
    "FileSummary",
    "HealthResponse",
    "IngestResponse",
    "LegacyStatus",
    "RejectedLine",
    "RejectedRow",
    "RejectsPage",
    "ReportIdRequest",
    "ReportInfo",
    "ReportLinks",
    "ReportOptionsInfo",
    "ReportRequest",
    "ReportWarning",
    "RunningReport",
    "TriggerResponse",
    "legacy_status",
    "options_info",
    "report_info",
    "warnings_of",
]

#: The longest report id accepted (issued ids have 22 characters).
MAX_REPORT_ID_LENGTH: Final = 128
#: The longest file name accepted in a query (``?name=`` of an ingest, ``?file=``).
MAX_FILE_NAME_LENGTH: Final = 255
#: The longest as_of accepted (``2023-01-25 18:00:00.123456 UTC`` has 30 characters).
MAX_AS_OF_LENGTH: Final = 64

#: What a SPEC timestamp looks like (for the schema: parsing says whether it exists; a
#: bare date is midnight UTC). Blanks around it are ignored; blank alone means "not given".
AS_OF_PATTERN: Final = (
    r"^\s*((000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])"
    r"-(0[1-9]|[12][0-9]|3[01])([ Tt]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
    r"( [Uu][Tt][Cc]|[Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?)?\s*$"
)
#: A report id has something besides blanks (the schema's word for "not missing").
REPORT_ID_PATTERN: Final = r"\S"

#: The status words of the original API: queued and running are both "Running".
LegacyStatus = Literal["Running", "Complete", "Failed"]

_LEGACY: dict[JobStatus, LegacyStatus] = {
    "queued": "Running",
    "running": "Running",
    "complete": "Complete",
    "failed": "Failed",
}


def legacy_status(status: JobStatus) -> LegacyStatus:
    """The original API's word for a job status."""
    return _LEGACY[status]


class ReportRequest(BaseModel):
    """Parameters of a report; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    as_of: str | None = Field(
        None,
        max_length=MAX_AS_OF_LENGTH,
        json_schema_extra={"pattern": AS_OF_PATTERN},
        description="The report's 'now' (SPEC timestamp, e.g. `2023-01-25 18:00:00 UTC`); "
        "default: the latest poll in the database. Polls after it are ignored.",
        examples=["2023-01-25 18:00:00 UTC"],
    )
    interpolation: Interpolation | None = Field(
        None,
        description="`nearest` or `previous`; default: the server's STOREMON_INTERPOLATION.",
    )
    windows: str | list[str] | None = Field(
        None,
        max_length=200,
        description="The windows, `<N>m|h|d|w` (at most 366 days), a comma-separated string "
        "or a list; default `1h,24h,168h` (the original report). Columns follow the order.",
        examples=["1h,24h,168h,30d"],
    )
    extended: bool | None = Field(
        None,
        description="Add `unobserved_*`, `outages_*` and `longest_outage_*` for every window "
        "(SPEC Part 2); default false.",
    )
    observed_within_minutes: float | None = Field(
        None,
        gt=0,
        le=527040,
        description="A poll observes the instants this many minutes either side of it; default 60.",
    )
    unobserved: Unobserved | None = Field(
        None,
        description="`extrapolate` (default: unobserved time still counts as uptime or "
        "downtime) or `exclude` (three-state accounting: up + down + unobserved = business).",
    )


class ReportIdRequest(BaseModel):
    """The body form of ``/get_report`` (as the original curl example sends it)."""

    model_config = ConfigDict(extra="forbid")

    report_id: str | None = Field(
        None,
        max_length=MAX_REPORT_ID_LENGTH,
        json_schema_extra={"pattern": REPORT_ID_PATTERN},
        description="The id returned by /trigger_report.",
    )
    format: Literal["csv", "json"] | None = Field(None, description="`csv` (default) or `json`.")


class TriggerResponse(BaseModel):
    report_id: str = Field(description="Pass it to /get_report. Unguessable.")
    status: LegacyStatus


class RunningReport(BaseModel):
    status: Literal["Running"] = "Running"
    report_id: str


class CompleteJson(BaseModel):
    status: Literal["Complete"] = "Complete"
    report_id: str
    data: str = Field(description="The report as CSV text.")


class FailedReport(BaseModel):
    """A failed report: the error shape plus its status and id."""

    status: Literal["Failed"] = "Failed"
    report_id: str
    error: str
    code: str = "report_failed"
    details: list[ErrorDetail] = Field(default_factory=list)


class ReportLinks(BaseModel):
    self: str
    csv: str


class ReportWarning(BaseModel):
    """Something a reader of the report must know (no rows, extrapolated figures)."""

    code: str = Field(description="`no_polls`, `as_of_after_polls` or `stale_stores`.")
    message: str


class ReportOptionsInfo(BaseModel):
    """The windows and Part 2 choices a report was computed with."""

    windows: list[str]
    extended: bool
    observed_within_minutes: float
    unobserved: Unobserved


def options_info(text: str) -> ReportOptionsInfo:
    options = ReportOptions.from_json(text)
    return ReportOptionsInfo(
        windows=[w.text for w in options.windows],
        extended=options.extended,
        observed_within_minutes=options.observed_within_us / 60_000_000,
        unobserved=options.unobserved,
    )


def warnings_of(job: JobRecord) -> list[ReportWarning]:
    """The warnings a finished job's summary holds."""
    return [ReportWarning(code=code, message=text) for code, text in stored_warnings(job.summary)]


class ReportInfo(BaseModel):
    """A report job: its state, parameters and timing."""

    report_id: str
    status: JobStatus = Field(description="queued → running → complete | failed.")
    interpolation: Interpolation
    as_of_requested: datetime | None = Field(description="The as_of asked for (null: latest).")
    as_of_used: datetime | None = Field(
        description="The as_of the report was computed for (null until complete, or when "
        "there were no polls)."
    )
    data_version: int = Field(description="The database's data version when triggered.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None = Field(description="finished_at − started_at.")
    row_count: int | None = Field(description="Stores in the report (when complete).")
    error: str | None = Field(description="Why it failed (when failed).")
    options: ReportOptionsInfo
    warnings: list[ReportWarning] = Field(
        description="What the numbers rest on that a reader must know (when complete)."
    )
    links: ReportLinks


def report_info(job: JobRecord) -> ReportInfo:
    """The REST view of a job record."""
    duration = None
    if job.started_at is not None and job.finished_at is not None:
        duration = round((job.finished_at - job.started_at).total_seconds(), 6)
    return ReportInfo(
        report_id=job.id,
        status=job.status,
        interpolation=job.interpolation,
        as_of_requested=job.as_of_requested,
        as_of_used=job.as_of_used,
        data_version=job.data_version,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration_seconds=duration,
        row_count=job.row_count,
        error=job.error,
        options=options_info(job.options),
        warnings=warnings_of(job),
        links=ReportLinks(self=f"/reports/{job.id}", csv=f"/reports/{job.id}.csv"),
    )


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    data_version: int


class RejectedLine(BaseModel):
    line: int = Field(description="The line number in the file (the header is line 1).")
    reason: str


class FileSummary(BaseModel):
    """One ingested file: rows read, loaded and rejected, and its first rejects."""

    file: str = Field(description="The file name used in messages and in the stored rejects.")
    rows: int = Field(description="Data rows read.")
    loaded: int = Field(description="Valid rows stored.")
    rejected: int = Field(description="Rows rejected (all are stored with their reasons).")
    rejects: list[RejectedLine] = Field(description="The first rejected rows.")


class IngestResponse(RootModel[dict[Source, FileSummary]]):
    """The summary of an ingest, keyed by source (one key: the source posted)."""


class RejectedRow(BaseModel):
    """A stored rejected row."""

    source: Source
    file: str
    line: int = Field(description="The line number in the file (the header is line 1).")
    reason: str
    raw: str = Field(description="The row as read, its first 1,000 characters.")
    raw_length: int = Field(description="The row's length in characters.")
    store_id: str | None = Field(description="The row's store id, when that field was valid.")
    ingested_at: datetime


class RejectsPage(BaseModel):
    """One page of rejected rows."""

    rejects: list[RejectedRow]
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null: no more.")
