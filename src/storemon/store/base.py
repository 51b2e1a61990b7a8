"""The database port: what storemon needs from a database, whatever the database.

:class:`Store` is implemented by :mod:`storemon.store.duckdb` (embedded default)
and :mod:`storemon.store.postgres`. The same contract tests run on both. Driver
exceptions never leave an implementation: they are translated to
:class:`storemon.errors.StoreError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

import pyarrow as pa

from storemon.schema import Interpolation, Source

JobStatus = Literal["queued", "running", "complete", "failed"]


@dataclass(frozen=True)
class IngestBatch:
    """Validated rows from one ingest, written in one transaction.

    Tables use the schemas of :mod:`storemon.schema` and keep file order, so
    that "later row wins" can be applied. ``None`` means the source was not given.
    """

    polls: pa.Table | None = None
    hours: pa.Table | None = None
    timezones: pa.Table | None = None
    rejects: pa.Table | None = None  # schema.REJECTS
    files: dict[Source, str] = field(default_factory=dict)  # source -> file name, for the log


@dataclass(frozen=True)
class ReportInputs:
    """What the engine needs for one report, read in bulk.

    ``polls`` has the columns of schema.POLLS, but its ``store_id`` is
    ``dictionary<int32, string>`` (``storemon.store._common.CODED_POLLS``): the
    dictionary holds the stores' ids, each once, and the indices point into it, so
    the engine numbers the stores without hashing a string per poll. The dictionary
    may hold ids that no row refers to. A consumer that needs plain text casts the
    column (``.cast(pa.string())``); ``compute_report`` and Arrow IPC take it as is.
    """

    polls: pa.Table  # polls in (as_of - 7 d, as_of] plus each store's last before; see above
    hours: pa.Table  # schema.HOURS
    timezones: pa.Table  # schema.TIMEZONES
    as_of: datetime | None  # the as_of used (latest poll when not given); None if no polls


@dataclass(frozen=True)
class JobRecord:
    """One report job as stored."""

    id: str
    status: JobStatus
    interpolation: Interpolation
    as_of_requested: datetime | None
    data_version: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    as_of_used: datetime | None = None
    row_count: int | None = None
    error: str | None = None
    attempts: int = 0  # how many times the job was set running (a crash can cut a run off)


class Store(Protocol):
    """A storemon database. Safe to call from several threads."""

    url: str

    def close(self) -> None:
        """Release connections. Idempotent."""
        ...

    # -- data ------------------------------------------------------------------------
    def apply_ingest(self, batch: IngestBatch) -> None:
        """Write one ingest atomically: all of it or nothing.

        Polls: last write wins per (store_id, timestamp_utc), within the batch by
        row order and over earlier ingests. Hours and timezones: every store with a
        row in the batch has all its previous rows of that source replaced. Rejects
        are appended. The data version is bumped when the batch has a polls, hours
        or timezones row (rejects alone change no report).
        """
        ...

    def report_inputs(self, as_of: datetime | None) -> ReportInputs:
        """Polls (``store_id`` dictionary-coded), hours and zones for a report at
        ``as_of`` (latest poll if None)."""
        ...

    def latest_poll_utc(self) -> datetime | None:
        """The latest poll instant stored, or None when there are no polls."""
        ...

    def counts(self) -> dict[str, int]:
        """Row counts: ``polls``, ``hours``, ``timezones``, ``rejects``, ``stores``."""
        ...

    def rejects(
        self, *, source: Source | None = None, limit: int = 100, offset: int = 0
    ) -> pa.Table:
        """Stored rejected rows (schema.REJECTS plus ``ingested_at``), newest ingest first."""
        ...

    def data_version(self) -> int:
        """A number that changes whenever an ingest changes the data."""
        ...

    # -- report jobs -----------------------------------------------------------------
    def insert_job(self, job: JobRecord) -> None: ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def list_jobs(self, *, limit: int = 50) -> list[JobRecord]:
        """Newest first."""
        ...

    def find_reusable_job(
        self, *, as_of_requested: datetime | None, interpolation: Interpolation, data_version: int
    ) -> JobRecord | None:
        """A queued, running or complete job with these parameters on this data version."""
        ...

    def mark_running(self, job_id: str, *, started_at: datetime) -> None:
        """Set a job running and count the attempt."""
        ...

    def mark_complete(
        self,
        job_id: str,
        *,
        finished_at: datetime,
        as_of_used: datetime | None,
        row_count: int,
        csv: bytes,
    ) -> None:
        """Store the finished CSV with the job, in one transaction."""
        ...

    def mark_failed(self, job_id: str, *, finished_at: datetime, error: str) -> None: ...

    def job_result(self, job_id: str) -> bytes | None:
        """The CSV of a complete job, or None."""
        ...

    def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs left queued or running (e.g. by a crash), oldest first."""
        ...
