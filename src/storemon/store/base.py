"""The database port: what storemon needs from a database, whatever the database.

:class:`Store` is implemented by :mod:`storemon.store.duckdb` (embedded default)
and :mod:`storemon.store.postgres`. The same contract tests run on both. Driver
exceptions never leave an implementation: they are translated to
:class:`storemon.errors.StoreError`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal, Protocol

import pyarrow as pa

from storemon.errors import InvalidRequest
from storemon.schema import Interpolation, Source

if TYPE_CHECKING:
    from storemon.store.retention import PruneResult

#: How far back :meth:`DataStore.report_inputs` reads polls by default, and at most.
LOOKBACK: Final = timedelta(days=7)
MAX_LOOKBACK: Final = timedelta(days=367)
_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)


def check_lookback(lookback: timedelta) -> None:
    """InvalidRequest unless ``0 < lookback <= MAX_LOOKBACK``."""
    if not timedelta(0) < lookback <= MAX_LOOKBACK:
        raise InvalidRequest(
            f"a report reads polls from more than 0 and at most {MAX_LOOKBACK.days} days "
            f"back; asked for {lookback}"
        )


def lookback_cutoff(as_of: datetime, lookback: timedelta = LOOKBACK) -> datetime:
    """``as_of - lookback``, or the earliest datetime when that is before year 1."""
    check_lookback(lookback)
    return as_of - lookback if as_of - _EARLIEST > lookback else _EARLIEST


JobStatus = Literal["queued", "running", "complete", "failed"]
#: Every job status, in lifecycle order.
JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "running", "complete", "failed")


@dataclass(frozen=True)
class IngestBatch:
    """Validated rows from one ingest, written in one transaction.

    Tables use the schemas of :mod:`storemon.schema` and keep file order, so
    that "later row wins" can be applied. ``None`` means the source was not given.
    ``polls`` may also be an iterable of tables (batches of one file, in file order):
    the store consumes it inside the ingest's transaction, staging one batch at a
    time, so memory follows one batch; a later batch's row wins over an earlier one's.
    An exception raised by the iterable rolls the whole ingest back.
    """

    polls: pa.Table | Iterable[pa.Table] | None = None
    hours: pa.Table | None = None
    timezones: pa.Table | None = None
    rejects: pa.Table | None = None  # schema.REJECTS
    files: dict[Source, str] = field(default_factory=dict)  # source -> file name, for the log
    #: source -> sha256 (hex) of the file's bytes as given: the ledger of ingested files
    #: (:meth:`Store.ingested_file`) records (name, sha256) in the ingest's transaction.
    file_hashes: dict[Source, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SettingsFallbacks:
    """Stores with polls whose settings fall back to SPEC's defaults because every row
    given for them was rejected: no hours row stored (so open 24x7), no timezone row
    stored (so America/Chicago), yet rejected rows naming them. Ids in byte order, the
    first few; the counts are of all."""

    open_all_week: list[str]
    open_all_week_count: int
    default_zone: list[str]
    default_zone_count: int


def _fallbacks_sql(source: Literal["hours", "timezones"], limit: int | None) -> str:
    """The stores of ``SettingsFallbacks`` for one source (table and source are one name):
    their ids (at most ``limit``, byte order) or, with ``limit`` None, their count."""
    chosen = (
        f"FROM stores s WHERE NOT EXISTS (SELECT 1 FROM {source} t"
        " WHERE t.store_id = s.store_id) AND EXISTS (SELECT 1 FROM rejects r"
        f" WHERE r.source = '{source}' AND r.store_id = s.store_id)"
    )
    if limit is None:
        return f"SELECT count(*) {chosen}"
    return f"SELECT s.store_id {chosen} ORDER BY s.store_id LIMIT {int(limit)}"


def read_fallbacks(
    run: Callable[[str], Sequence[Sequence[object]]], limit: int
) -> SettingsFallbacks:
    """:class:`SettingsFallbacks` by ``run`` (a backend's "execute and fetch all")."""
    found: list[tuple[list[str], int]] = []
    sources: tuple[Literal["hours", "timezones"], ...] = ("hours", "timezones")
    for source in sources:
        ids = [str(row[0]) for row in run(_fallbacks_sql(source, limit))]
        count = int(str(run(_fallbacks_sql(source, None))[0][0]))
        found.append((ids, count))
    (hours, hours_count), (zones, zones_count) = found
    return SettingsFallbacks(hours, hours_count, zones, zones_count)


def splits_sql(parts: int, collate: str = "") -> str:
    """The ids that cut the stored stores into ``parts`` runs of (nearly) equal count, in
    byte order: the first id of every run but the first (``ntile`` over ``stores``).
    ``collate`` is appended to the ordering (PostgreSQL: ``COLLATE "C"``)."""
    return (
        "SELECT min(store_id) FROM (SELECT store_id,"
        f" ntile({int(parts)}) OVER (ORDER BY store_id{collate}) AS part FROM stores) runs"
        f" GROUP BY part HAVING part > 1 ORDER BY min(store_id){collate}"
    )


@dataclass(frozen=True)
class StoreRange:
    """Stores by id: those in ``[first, stop)`` in byte order (None: unbounded), or with
    ``only`` the one store with exactly that id."""

    first: str | None = None
    stop: str | None = None
    only: str | None = None

    @classmethod
    def one(cls, store_id: str) -> StoreRange:
        return cls(only=store_id)

    def sql(self, column: str, mark: str) -> tuple[str, dict[str, object]]:
        """A SQL condition on ``column`` and its named parameters; ``mark`` formats a
        parameter name as the driver wants it (``$name``, ``%(name)s``)."""
        params = {"range_first": self.first, "range_stop": self.stop, "range_only": self.only}
        terms = [
            f"{column} >= {mark.format('range_first')}" if self.first is not None else "",
            f"{column} < {mark.format('range_stop')}" if self.stop is not None else "",
            f"{column} = {mark.format('range_only')}" if self.only is not None else "",
        ]
        used = [term for term in terms if term]
        wanted: dict[str, object] = {k: v for k, v in params.items() if v is not None}
        return (" AND ".join(used) if used else "TRUE"), wanted


@dataclass(frozen=True)
class ReportInputs:
    """What the engine needs for one report, read in bulk.

    ``polls`` has the columns of schema.POLLS, but its ``store_id`` is
    ``dictionary<int32, string>`` (``storemon.store.arrow.CODED_POLLS``): the
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
    #: Canonical JSON of the report options beyond as_of and interpolation; opaque to
    #: the store, compared exactly (string equality) when looking for a reusable job.
    options: str = "{}"
    #: JSON object the compute returned with the result (warnings, counts); opaque here.
    summary: str | None = None
    #: Who holds the job (a server's owner id) and until when, unless it renews the lease.
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None


class _Database(Protocol):
    """What both halves of the port have: the URL, the schema version, closing."""

    url: str
    read_only: bool  # opened to read only (no ingest, prune or job writes)

    def close(self) -> None:
        """Release connections. Idempotent."""
        ...

    def schema_version(self) -> int:
        """The highest migration applied (``storemon.store.migrations.SCHEMA_VERSION``)."""
        ...

    def execute_sql(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run one statement (the backend's own SQL and placeholders) in a transaction of
        its own and return its rows. For maintenance and tests; everything storemon
        does goes through the methods of the port."""
        ...


class DataStore(_Database, Protocol):
    """Polls, hours, timezones, rejects and the ledger of ingested files."""

    def apply_ingest(self, batch: IngestBatch) -> None:
        """Write one ingest atomically: all of it or nothing.

        Polls: last write wins per (store_id, timestamp_utc), within the batch by
        row order and over earlier ingests. Hours and timezones: every store with a
        row in the batch has all its previous rows of that source replaced. Rejects
        are appended. The data version is bumped when the batch has a polls, hours
        or timezones row (rejects alone change no report). ``file_hashes`` become
        ledger rows in the same transaction.
        """
        ...

    def report_inputs(
        self,
        as_of: datetime | None,
        *,
        lookback: timedelta = LOOKBACK,
        stores: StoreRange | None = None,
    ) -> ReportInputs:
        """Polls in ``(as_of - lookback, as_of]`` plus each store's last poll before
        (``store_id`` dictionary-coded), hours and zones, for a report at ``as_of``
        (latest poll if None; the latest of all stores even when ``stores`` selects
        some). ``lookback`` is positive and at most :data:`MAX_LOOKBACK`. ``stores``
        reads only those stores' rows (one store, or a range of ids: a partition)."""
        ...

    def latest_poll_utc(self) -> datetime | None:
        """The latest poll instant stored, or None when there are no polls."""
        ...

    def prune_polls(self, before: datetime, *, dry_run: bool = False) -> PruneResult:
        """Remove the polls before the Monday 00:00 UTC at or before ``before`` (whole
        weeks), except each store's last poll before that boundary, atomically; the data
        version is bumped when a poll was removed. With ``dry_run`` nothing changes and
        the result says what would go (:mod:`storemon.store.retention`)."""
        ...

    def export_rows(self, stores: StoreRange) -> ReportInputs:
        """Every stored poll of ``stores`` (not only a window; ``store_id``
        dictionary-coded, in no particular order), their hours and zones, and the latest
        poll stored (of all stores) as ``as_of``: one range of ``storemon export``."""
        ...

    def store_splits(self, parts: int) -> list[str]:
        """At most ``parts - 1`` stored store ids, ascending in byte order, that cut the
        stores into ``parts`` ranges of about equal count (computed in the database):
        :func:`storemon.jobs.partitioned.partition_ranges` makes the ranges. Fewer when
        there are fewer stores; none for ``parts`` 1."""
        ...

    def latest_ingest_utc(self) -> datetime | None:
        """When the latest ingest was stored (any source), or None before the first."""
        ...

    def settings_fallbacks(self, *, limit: int = 10) -> SettingsFallbacks:
        """The stores whose hours or zone fall back to the defaults because every row
        given for them was rejected (:class:`SettingsFallbacks`, at most ``limit`` ids
        each)."""
        ...

    def counts(self) -> dict[str, int]:
        """Row counts: ``polls``, ``hours``, ``timezones``, ``rejects``, ``stores``."""
        ...

    def rejects(
        self,
        *,
        source: Source | None = None,
        file: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> pa.Table:
        """Stored rejected rows (``REJECTS_OUT``: schema.REJECTS's columns, ``store_id``
        and ``ingested_at``), newest ingest first; ``file`` matches the name exactly."""
        ...

    def data_version(self) -> int:
        """A number that changes whenever an ingest changes the data."""
        ...

    def ingested_file(self, name: str, sha256: str) -> datetime | None:
        """When the file ``name`` with these contents (sha256 hex) was ingested, or None."""
        ...


class JobStore(_Database, Protocol):
    """Report jobs and their results."""

    def insert_job(self, job: JobRecord) -> None:
        """Store a new job (its id must be new)."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def list_jobs(self, *, limit: int = 50) -> list[JobRecord]:
        """Newest first."""
        ...

    def job_counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status (every status is a key)."""
        ...

    def find_reusable_job(
        self,
        *,
        as_of_requested: datetime | None,
        interpolation: Interpolation,
        data_version: int,
        options: str = "{}",
        complete_since: datetime | None = None,
    ) -> JobRecord | None:
        """The newest queued, running or complete job with these parameters on this
        data version (``options`` compared as strings); a complete one only if it
        finished at or after ``complete_since`` (its result is still kept), when given."""
        ...

    def mark_running(
        self,
        job_id: str,
        *,
        started_at: datetime,
        owner: str | None = None,
        lease_until: datetime | None = None,
    ) -> bool:
        """Set a job running and count the attempt, if it is unfinished and ``owner``
        holds its lease (None: nobody does); the lease then runs to ``lease_until``.
        False when another owner holds it or it finished; ReportNotFound if no such job."""
        ...

    def mark_complete(
        self,
        job_id: str,
        *,
        finished_at: datetime,
        as_of_used: datetime | None,
        row_count: int,
        csv: bytes,
        summary: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Store the finished CSV (and the compute's JSON summary) with the job, in one
        transaction, if it is unfinished and ``owner`` holds it. False otherwise: a
        finished job never changes (never back from complete, never completed twice)."""
        ...

    def mark_failed(
        self, job_id: str, *, finished_at: datetime, error: str, owner: str | None = None
    ) -> bool:
        """Set a job failed with an error message (NUL becomes U+FFFD on both backends),
        if it is unfinished and ``owner`` holds it; False otherwise."""
        ...

    def fail_jobs(
        self, job_ids: Collection[str], *, finished_at: datetime, error: str, owner: str
    ) -> int:
        """:meth:`mark_failed` for many jobs ``owner`` holds, in one transaction; how many."""
        ...

    def expire_results(self, *, finished_before: datetime) -> list[str]:
        """Delete the CSVs of jobs completed before ``finished_before``; those jobs' ids."""
        ...

    def claim_jobs(
        self, owner: str, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[JobRecord]:
        """Atomically take up to ``limit`` unfinished jobs that nobody holds or whose
        lease expired before ``now``, oldest first, for ``owner`` until ``lease_until``."""
        ...

    def renew_leases(self, owner: str, *, lease_until: datetime) -> set[str]:
        """Extend ``owner``'s leases on unfinished jobs to ``lease_until``; their ids."""
        ...

    def release_leases(self, owner: str, job_ids: Collection[str] | None = None) -> int:
        """Give up ``owner``'s unfinished jobs (only those of ``job_ids`` if given) so any
        server may claim them now; how many."""
        ...

    def job_result(self, job_id: str) -> bytes | None:
        """The CSV of a complete job, or None."""
        ...

    def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs left queued or running (e.g. by a crash), oldest first."""
        ...


class Store(DataStore, JobStore, Protocol):
    """A storemon database: the data store and the job store. Safe to call from
    several threads."""
