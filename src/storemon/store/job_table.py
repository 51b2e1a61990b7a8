"""The job table, written once for both backends.

:class:`JobTable` implements :class:`storemon.store.base.JobStore` on top of two
things a backend provides: ``_job_rows`` runs one read and returns its rows (a
backend may retry it: reads are idempotent), and ``_job_writes`` is a transaction
yielding an :data:`Execute` that runs one statement and returns its rows. What differs between
DuckDB and PostgreSQL is given by a :class:`Dialect`: the parameter placeholder,
how an instant is handed to the driver (a naive UTC ``datetime`` for DuckDB's
``TIMESTAMP``, an aware one for ``timestamptz``), and the row locks of a claim
(PostgreSQL's ``FOR UPDATE SKIP LOCKED``; DuckDB has one process and no row locks).

A job is held by a lease (``lease_owner``, ``lease_expires_at``) when several servers
share the database: a job is changed only by its holder, a holder renews its leases
while it runs, and another server claims a job only once its lease has expired. A
finished job (complete or failed) never changes again.

Updates read back what they changed (``RETURNING id``) on both backends, never a
query before the update; only when nothing changed does one more query tell a job
that does not exist (:class:`ReportNotFound`) from one held by another owner or
finished (False). Text cannot hold NUL in PostgreSQL, so an error message has NUL
replaced by U+FFFD on both backends alike, a job id with NUL is refused at insert,
and looking one up finds nothing (no such job can exist) on both.

A result is stored gzip-compressed (``job_results.encoding = 'gzip'``, level 1, about
2.4x smaller for a report's CSV, some milliseconds per megabyte off the GIL); results
stored before migration 6 are ``'identity'`` and read as they are.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from storemon.errors import ReportNotFound, StoreError
from storemon.instants import to_utc
from storemon.schema import Interpolation
from storemon.store.base import JOB_STATUSES, JobRecord, JobStatus

__all__ = ["JOB_COLUMNS", "Dialect", "Execute", "JobTable", "job_from_row"]

Row = tuple[object, ...]


class Execute(Protocol):
    """Run one statement (``?`` placeholders already in the backend's form); its rows."""

    def __call__(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...


@dataclass(frozen=True)
class Dialect:
    """What the job SQL needs to know about a backend."""

    placeholder: str  # "?" (DuckDB) or "%s" (psycopg)
    instant: Callable[[datetime], datetime]  # an instant as the driver takes it
    #: Row locks for claiming jobs: " FOR UPDATE SKIP LOCKED" where several processes
    #: share the database (PostgreSQL); "" where one process has it (DuckDB, which has
    #: no row locks).
    row_locks: str = ""

    def sql(self, text: str) -> str:
        """``text`` with each ``?`` replaced by the placeholder (the SQL holds no other ``?``)."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def optional(self, value: datetime | None) -> datetime | None:
        """:attr:`instant`, passing None through."""
        return None if value is None else self.instant(value)


#: Job columns in the order :func:`job_from_row` expects.
JOB_COLUMNS: Final = (
    "id, status, interpolation, as_of_requested, data_version, created_at, "
    "started_at, finished_at, as_of_used, row_count, error, attempts, options, summary, "
    "lease_owner, lease_expires_at"
)
_QUALIFIED_COLUMNS: Final = ", ".join(f"jobs.{name.strip()}" for name in JOB_COLUMNS.split(","))
_IDS_PER_STATEMENT: Final = 500
_INTERPOLATIONS: Final[tuple[Interpolation, ...]] = ("nearest", "previous")
_UNFINISHED: Final = "status IN ('queued', 'running')"


def job_from_row(row: Row) -> JobRecord:
    """A :class:`JobRecord` from a row selected with :data:`JOB_COLUMNS`.

    Status and interpolation are checked: a value storemon does not know (a database
    written by a newer version, or by hand) is a :class:`StoreError`, not a bad record.
    """
    (
        job_id,
        status,
        interpolation,
        as_of_requested,
        data_version,
        created_at,
        started_at,
        finished_at,
        as_of_used,
        row_count,
        error,
        attempts,
        options,
        summary,
        lease_owner,
        lease_expires_at,
    ) = row
    created = _instant(created_at)
    if created is None:
        raise StoreError(f"job {job_id} has no creation time")
    return JobRecord(
        id=str(job_id),
        status=_status(job_id, status),
        interpolation=_interpolation(job_id, interpolation),
        as_of_requested=_instant(as_of_requested),
        data_version=_integer(data_version),
        created_at=created,
        started_at=_instant(started_at),
        finished_at=_instant(finished_at),
        as_of_used=_instant(as_of_used),
        row_count=None if row_count is None else _integer(row_count),
        error=None if error is None else str(error),
        attempts=_integer(attempts),
        options=str(options),
        summary=None if summary is None else str(summary),
        lease_owner=None if lease_owner is None else str(lease_owner),
        lease_expires_at=_instant(lease_expires_at),
    )


def _status(job_id: object, value: object) -> JobStatus:
    for status in JOB_STATUSES:
        if value == status:
            return status
    raise StoreError(f"job {job_id} has an unknown status {value!r} in the database")


def _interpolation(job_id: object, value: object) -> Interpolation:
    for interpolation in _INTERPOLATIONS:
        if value == interpolation:
            return interpolation
    raise StoreError(f"job {job_id} has an unknown interpolation {value!r} in the database")


def _integer(value: object) -> int:
    if isinstance(value, int):
        return value
    raise StoreError(f"expected an integer from the database, got {type(value).__name__}")


def _instant(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise StoreError(f"expected a datetime from the database, got {type(value).__name__}")
    return to_utc(value)


def _text(value: str) -> str:
    """Text as both backends store it: PostgreSQL text cannot hold NUL."""
    return value.replace("\x00", "\ufffd")


class JobTable:
    """The :class:`storemon.store.base.JobStore` methods, for a backend that gives
    :attr:`_dialect`, :meth:`_job_rows` and :meth:`_job_writes`."""

    _dialect: Dialect

    def _job_rows(self, doing: str, sql: str, params: Sequence[object]) -> list[Row]:
        """The rows of one read of the last committed state (``sql`` in the backend's form)."""
        raise NotImplementedError

    def _job_writes(self, doing: str) -> AbstractContextManager[Execute]:
        """A context inside one transaction (rolled back on any error)."""
        raise NotImplementedError

    def _rows(self, doing: str, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._job_rows(doing, self._dialect.sql(sql), params)

    def _jobs(self, doing: str, sql: str, params: Sequence[object] = ()) -> list[JobRecord]:
        return [job_from_row(row) for row in self._rows(doing, sql, params)]

    def insert_job(self, job: JobRecord) -> None:
        """Store a new job (its id must be new)."""
        if "\x00" in job.id:
            raise StoreError("a job id cannot contain NUL")
        d = self._dialect
        with self._job_writes(f"insert job {job.id}") as run:
            run(
                d.sql(f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({', '.join(['?'] * 16)})"),
                [
                    job.id,
                    job.status,
                    job.interpolation,
                    d.optional(job.as_of_requested),
                    job.data_version,
                    d.instant(job.created_at),
                    d.optional(job.started_at),
                    d.optional(job.finished_at),
                    d.optional(job.as_of_used),
                    job.row_count,
                    None if job.error is None else _text(job.error),
                    job.attempts,
                    job.options,
                    job.summary,
                    job.lease_owner,
                    d.optional(job.lease_expires_at),
                ],
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job with this id, or None."""
        if "\x00" in job_id:
            return None
        found = self._jobs("read a job", f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", [job_id])
        return found[0] if found else None

    def list_jobs(self, *, limit: int = 50) -> list[JobRecord]:
        """Newest first."""
        return self._jobs(
            "list jobs",
            f"SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?",
            [max(limit, 0)],
        )

    def job_counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status (every status is a key, 0 when none)."""
        counts = dict.fromkeys(JOB_STATUSES, 0)
        for status, count in self._rows(
            "count jobs", "SELECT status, count(*) FROM jobs GROUP BY status"
        ):
            counts[_status("?", status)] = _integer(count)
        return counts

    def find_reusable_job(
        self,
        *,
        as_of_requested: datetime | None,
        interpolation: Interpolation,
        data_version: int,
        options: str = "{}",
        complete_since: datetime | None = None,
    ) -> JobRecord | None:
        """The newest queued, running or complete job with these parameters on this data
        (a complete one only if it finished at or after ``complete_since``, when given)."""
        params: list[object] = [interpolation, data_version, options]
        if as_of_requested is None:  # no typed NULL parameter needed: IS NULL
            as_of = "as_of_requested IS NULL"
        else:
            as_of = "as_of_requested = ?"
            params.append(self._dialect.instant(as_of_requested))
        complete = "status = 'complete'"
        if complete_since is not None:
            complete += " AND finished_at >= ?"
            params.append(self._dialect.instant(complete_since))
        found = self._jobs(
            "find a reusable job",
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE interpolation = ? AND data_version = ?"
            f" AND options = ? AND {as_of} AND ({_UNFINISHED} OR ({complete}))"
            " ORDER BY created_at DESC, id DESC LIMIT 1",
            params,
        )
        return found[0] if found else None

    def _held_by(self, owner: str | None) -> tuple[str, list[object]]:
        """The condition "unfinished and held by ``owner``" (None: held by nobody)."""
        if owner is None:
            return f"{_UNFINISHED} AND lease_owner IS NULL", []
        return f"{_UNFINISHED} AND lease_owner = ?", [owner]

    def mark_running(
        self,
        job_id: str,
        *,
        started_at: datetime,
        owner: str | None = None,
        lease_until: datetime | None = None,
    ) -> bool:
        """Set a job running and count the attempt, if it is unfinished and ``owner``
        holds it (None: nobody holds it); its lease then runs to ``lease_until``.
        False when another owner holds it or it finished."""
        d = self._dialect
        held, params = self._held_by(owner)
        lease = "" if lease_until is None else ", lease_expires_at = ?"
        values = [d.instant(started_at)] + ([] if lease_until is None else [d.instant(lease_until)])
        return self._update(
            job_id,
            "running",
            "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1"
            f"{lease} WHERE id = ? AND {held} RETURNING id",
            [*values, job_id, *params],
        )

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
        """Store the finished CSV with the job, in one transaction, if the job is
        unfinished and ``owner`` holds it; False otherwise (a finished job never
        changes: the first result stays)."""
        if "\x00" in job_id:
            raise ReportNotFound(job_id)
        d = self._dialect
        held, params = self._held_by(owner)
        packed = _pack_result(csv)  # before the transaction: the job writer waits for nobody
        with self._job_writes(f"mark job {job_id} complete") as run:
            changed = run(
                d.sql(
                    "UPDATE jobs SET status = 'complete', finished_at = ?, as_of_used = ?,"
                    " row_count = ?, error = NULL, summary = ?, lease_expires_at = NULL"
                    f" WHERE id = ? AND {held} RETURNING id"
                ),
                [
                    d.instant(finished_at),
                    d.optional(as_of_used),
                    row_count,
                    summary,
                    job_id,
                    *params,
                ],
            )
            if not changed:
                return self._refused(run, job_id)
            run(d.sql("DELETE FROM job_results WHERE job_id = ?"), [job_id])
            run(
                d.sql("INSERT INTO job_results (job_id, csv, encoding) VALUES (?, ?, ?)"),
                [job_id, packed, _RESULT_ENCODING],
            )
        return True

    def mark_failed(
        self, job_id: str, *, finished_at: datetime, error: str, owner: str | None = None
    ) -> bool:
        """Set a job failed with an error message, if it is unfinished and ``owner``
        holds it; False otherwise."""
        held, params = self._held_by(owner)
        return self._update(
            job_id,
            "failed",
            "UPDATE jobs SET status = 'failed', finished_at = ?, error = ?,"
            f" lease_expires_at = NULL WHERE id = ? AND {held} RETURNING id",
            [self._dialect.instant(finished_at), _text(error), job_id, *params],
        )

    def _update(self, job_id: str, status: str, sql: str, params: Sequence[object]) -> bool:
        if "\x00" in job_id:
            raise ReportNotFound(job_id)
        with self._job_writes(f"mark job {job_id} {status}") as run:
            return bool(run(self._dialect.sql(sql), params)) or self._refused(run, job_id)

    def _refused(self, run: Execute, job_id: str) -> bool:
        """False, after an update that changed nothing: unless the job does not exist."""
        if not run(self._dialect.sql("SELECT 1 FROM jobs WHERE id = ?"), [job_id]):
            raise ReportNotFound(job_id)
        return False

    def fail_jobs(
        self, job_ids: Collection[str], *, finished_at: datetime, error: str, owner: str
    ) -> int:
        """:meth:`mark_failed` for many jobs ``owner`` holds, in one transaction; how many
        were failed (the others finished, or are held by another owner)."""
        ids = sorted(job_ids)
        failed = 0
        with self._job_writes(f"fail {len(ids)} jobs") as run:
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                chunk = ids[start : start + _IDS_PER_STATEMENT]
                marks = ", ".join(["?"] * len(chunk))
                sql = self._dialect.sql(
                    "UPDATE jobs SET status = 'failed', finished_at = ?, error = ?,"
                    f" lease_expires_at = NULL WHERE id IN ({marks})"
                    f" AND {_UNFINISHED} AND lease_owner = ? RETURNING id"
                )
                params = [self._dialect.instant(finished_at), _text(error), *chunk, owner]
                failed += len(run(sql, params))
        return failed

    def expire_results(self, *, finished_before: datetime) -> list[str]:
        """Delete the CSVs of jobs that completed before ``finished_before`` (past their
        retention); the ids of those jobs. The job rows stay (a poll can be told why)."""
        d = self._dialect
        with self._job_writes("remove expired report results") as run:
            rows = run(
                d.sql(
                    "DELETE FROM job_results WHERE job_id IN (SELECT id FROM jobs"
                    " WHERE status = 'complete' AND finished_at < ?) RETURNING job_id"
                ),
                [d.instant(finished_before)],
            )
        return [str(row[0]) for row in rows]

    # -- leases: several servers on one database ---------------------------------------
    def claim_jobs(
        self, owner: str, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[JobRecord]:
        """Take up to ``limit`` unfinished jobs that nobody holds or whose lease expired
        before ``now``, oldest first, for ``owner`` until ``lease_until``. Atomic: two
        servers claiming at once never get the same job (on PostgreSQL the candidates
        are locked ``FOR UPDATE SKIP LOCKED``, and the condition is checked again on
        the row the update sees)."""
        if limit <= 0:
            return []
        d = self._dialect
        expired = f"{_UNFINISHED} AND (lease_expires_at IS NULL OR lease_expires_at < ?)"
        with self._job_writes("claim jobs") as run:
            # The candidates are picked once (a materialized CTE: a sub-select in the
            # WHERE may be run again by PostgreSQL, and with SKIP LOCKED find more rows).
            rows = run(
                d.sql(
                    f"WITH picked AS MATERIALIZED (SELECT id FROM jobs WHERE {expired}"
                    f" ORDER BY created_at, id LIMIT ?{d.row_locks})"
                    " UPDATE jobs SET lease_owner = ?, lease_expires_at = ? FROM picked"
                    f" WHERE jobs.id = picked.id AND {expired} RETURNING {_QUALIFIED_COLUMNS}"
                ),
                [d.instant(now), limit, owner, d.instant(lease_until), d.instant(now)],
            )
        return sorted((job_from_row(row) for row in rows), key=lambda j: (j.created_at, j.id))

    def renew_leases(self, owner: str, *, lease_until: datetime) -> set[str]:
        """Extend to ``lease_until`` the lease of every unfinished job ``owner`` holds;
        their ids (a job missing from them was taken over, or finished)."""
        with self._job_writes("renew job leases") as run:
            rows = run(
                self._dialect.sql(
                    "UPDATE jobs SET lease_expires_at = ?"
                    f" WHERE lease_owner = ? AND {_UNFINISHED} RETURNING id"
                ),
                [self._dialect.instant(lease_until), owner],
            )
        return {str(row[0]) for row in rows}

    def release_leases(self, owner: str, job_ids: Collection[str] | None = None) -> int:
        """Give up ``owner``'s unfinished jobs (it stops, or it is known to be dead; only
        those of ``job_ids`` if given), so that any server may claim them at once; how many."""
        ids = None if job_ids is None else sorted(job_ids)
        if ids is not None and not ids:
            return 0
        only = "" if ids is None else f" AND id IN ({', '.join(['?'] * len(ids))})"
        with self._job_writes("release job leases") as run:
            rows = run(
                self._dialect.sql(
                    "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL"
                    f" WHERE lease_owner = ? AND {_UNFINISHED}{only} RETURNING id"
                ),
                [owner, *(ids or [])],
            )
        return len(rows)

    def job_result(self, job_id: str) -> bytes | None:
        """The CSV of a complete job, or None."""
        if "\x00" in job_id:
            return None
        rows = self._rows(
            "read a job result",
            "SELECT r.csv, r.encoding FROM job_results r JOIN jobs j ON j.id = r.job_id"
            " WHERE r.job_id = ? AND j.status = 'complete'",
            [job_id],
        )
        if not rows:
            return None
        stored, encoding = rows[0]
        if not isinstance(stored, bytes | bytearray | memoryview):
            raise StoreError(f"expected bytes from the database, got {type(stored).__name__}")
        return _unpack_result(job_id, bytes(stored), encoding)

    def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs left queued or running, oldest first."""
        return self._jobs(
            "list unfinished jobs",
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE {_UNFINISHED} ORDER BY created_at, id",
        )


_RESULT_ENCODING: Final = "gzip"


def _pack_result(csv: bytes) -> bytes:
    """A result as stored (``_RESULT_ENCODING``); ``mtime=0`` keeps it deterministic."""
    return gzip.compress(csv, compresslevel=1, mtime=0)


def _unpack_result(job_id: str, stored: bytes, encoding: object) -> bytes:
    """A stored result as the CSV it was."""
    if encoding == "identity":
        return stored
    if encoding == "gzip":
        return gzip.decompress(stored)
    raise StoreError(
        f"job {job_id}'s result is stored with an unknown encoding {encoding!r}"
        " (written by a newer storemon?)",
        public="a job result is stored in an encoding this server cannot read",
    )
