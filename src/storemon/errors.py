"""The one exception tree of storemon.

Every error that storemon raises on purpose derives from :class:`StoremonError`.
Adapters (CLI, API) catch it at their edge and turn it into an exit code or a
JSON error; anything else reaching them is a bug.

    StoremonError
    ├── InputError            the caller gave something unusable: fix the input
    │   ├── IngestError       a CSV file cannot be ingested as a whole
    │   │   ├── MissingColumnError   its header lacks a required column
    │   │   ├── FileTooLarge         its text is over STOREMON_MAX_DECOMPRESSED_BYTES
    │   │   └── NothingLoaded        it has rows, but every one was rejected
    │   └── InvalidRequest    a bad parameter (as_of, interpolation, id, ...)
    │       └── UnknownStore  no such store (no poll at or before as_of)
    ├── ConfigError           a bad setting (database URL, directory, ...)
    ├── ComputeError          the engine cannot compute this input (a size limit it names)
    ├── StoreError            the database failed; driver errors are translated to this
    │   └── DataChanged       the data changed between the reads of one output in parts
    ├── ReportNotFound        no report with that id
    ├── ReportExpired         a finished report's result is past its retention
    ├── ReportWorkerError     a report worker process died while computing
    └── QueueFull             too many reports are queued: try again later

A :class:`StoreError` carries two messages: ``str(error)`` is the whole story for
the log and the CLI (which database, what the driver said), and ``error.public``
leaves out what a remote client must not see (the URL, user, host, database name).
"""

from __future__ import annotations

from datetime import datetime, timedelta


class StoremonError(Exception):
    """Base class of every error storemon raises on purpose."""


class InputError(StoremonError):
    """The caller gave something storemon cannot use; the message says what to fix."""


class IngestError(InputError):
    """A whole CSV file was refused; nothing from it was stored."""


class MissingColumnError(IngestError):
    """A CSV header lacks a required column."""

    def __init__(
        self, file: str, column: str, header: list[str], aliases: tuple[str, ...] = ()
    ) -> None:
        self.file = file
        self.column = column
        self.header = header
        self.aliases = aliases
        shown = ", ".join(header) if header else "(empty)"
        also = f" (or {' or '.join(repr(a) for a in aliases)})" if aliases else ""
        super().__init__(
            f"{file}: header lacks the required column '{column}'{also} (header is: {shown})"
        )


class FileTooLarge(IngestError):
    """A file's text (unpacked, for a gzip file) is larger than the configured limit."""

    def __init__(self, file: str, limit: int) -> None:
        self.file = file
        self.limit = limit
        super().__init__(
            f"{file}: holds more than {limit:,} bytes of text (unpacked), the limit set by "
            "STOREMON_MAX_DECOMPRESSED_BYTES; split the file or raise the limit"
        )


class NothingLoaded(IngestError):
    """Every data row of a file was rejected, so the ingest stored nothing.

    ``first_rejects`` holds the first few ``(line, reason)`` pairs (all rejects are counted
    in ``rejected``); the database is left as it was, rejects included.
    """

    def __init__(self, file: str, rejected: int, first_rejects: list[tuple[int, str]]) -> None:
        self.file = file
        self.rejected = rejected
        self.first_rejects = first_rejects
        noun = "row was" if rejected == 1 else f"{rejected:,} rows were"
        shown = "; ".join(f"line {line}: {reason}" for line, reason in first_rejects)
        more = "" if len(first_rejects) >= rejected else "; ..."
        super().__init__(
            f"{file}: nothing loaded, its {noun} rejected and nothing was stored ({shown}{more})"
        )


class InvalidRequest(InputError):
    """A bad parameter value: unknown interpolation, unparseable timestamp, missing id."""


class UnknownStore(InvalidRequest):
    """A store id that the data has no poll for (at or before the as_of asked for)."""

    def __init__(self, store_id: str) -> None:
        self.store_id = store_id
        shown = store_id if len(store_id) <= 200 else store_id[:200] + "…"
        super().__init__(
            f"no store {shown!r} with a poll at or before as_of: check the id (ids are "
            "compared exactly: '0042' and '42' differ), or give a later as_of"
        )


class ConfigError(StoremonError):
    """A setting is unusable (bad database URL, unwritable directory, ...)."""


class ComputeError(StoremonError):
    """The engine cannot compute the input as given (e.g. too many stores for one chunk's keys)."""


class StoreError(StoremonError):
    """The database failed. Driver exceptions are translated to this in one place.

    ``public`` is the message without the database URL, user, host or name: what the
    API may show a client (the full message goes to the log). None when the store did
    not write one: then a client reads only that the database failed.
    """

    def __init__(self, message: str, *, public: str | None = None) -> None:
        super().__init__(message)
        self.public = public


class DataChanged(StoreError):
    """The data changed between the reads of one output computed in parts (an ingest or a
    prune meanwhile): the parts would mix data from before and after it. Computing the
    output again can succeed."""


class ReportNotFound(StoremonError):
    """No report job has the given id."""

    def __init__(self, report_id: str) -> None:
        self.report_id = report_id
        super().__init__(f"no report with id '{report_id}'")


class ReportExpired(StoremonError):
    """A report finished, but its result is past the retention and was removed."""

    def __init__(self, report_id: str, finished_at: datetime, retention: timedelta) -> None:
        self.report_id = report_id
        self.finished_at = finished_at
        self.retention = retention
        hours = retention.total_seconds() / 3600
        super().__init__(
            f"report '{report_id}' finished at {finished_at.isoformat()} and its result "
            f"was kept for {hours:g} h (STOREMON_REPORT_RETENTION_HOURS); it has expired: "
            "trigger the report again"
        )


class ReportWorkerError(StoremonError):
    """A report worker process died while computing."""


class QueueFull(StoremonError):
    """The report queue is at its bound; ``retry_after_seconds`` says when to try again."""

    def __init__(self, queued: int, bound: int, retry_after_seconds: int) -> None:
        self.queued = queued
        self.bound = bound
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            f"{queued} reports are queued, the most this server holds "
            f"(STOREMON_REPORT_QUEUE_MAX={bound}); try again in {retry_after_seconds} s"
        )
