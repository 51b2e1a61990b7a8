"""The embedded DuckDB store (the default backend).

One process opens a DuckDB file at a time. Inside it, every write goes through
one connection under a lock (DuckDB allows one writer); each read gets its own
cursor (``conn.cursor()``) and sees the last committed state. Instants are
``TIMESTAMP`` columns holding UTC, and polls are keyed by integer store codes
(see :mod:`storemon.store.migrations`).
Every duckdb exception is translated to :class:`StoreError` in :meth:`_errors`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from storemon import schema
from storemon.errors import ConfigError, ReportNotFound, StoreError
from storemon.schema import Interpolation, Source
from storemon.store import migrations
from storemon.store._common import (
    CODED_POLLS,
    JOB_COLUMNS,
    changes_data,
    check_code_room,
    coded_polls,
    conform,
    from_epoch_us,
    job_from_row,
    lookback_cutoff,
    prepared,
    to_epoch_us,
    to_naive_utc,
    to_utc,
    with_row_numbers,
)
from storemon.store.base import IngestBatch, JobRecord, ReportInputs

__all__ = ["DuckDBStore"]

_Conn = Any  # duckdb.DuckDBPyConnection (duckdb ships no type information mypy reads)

_REJECTS_OUT = schema.REJECTS.append(
    pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False)
)


class DuckDBStore:
    """A :class:`storemon.store.Store` in a DuckDB file (or in memory for tests)."""

    def __init__(self, url: str, path: str) -> None:
        self.url = url
        self._path = path
        self._lock = threading.RLock()
        self._closed = False
        if path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise ConfigError(
                    f"cannot open database {url}: directory {parent} does not exist "
                    "(create it, or fix the path in --db / STOREMON_DB)"
                )
        with self._errors(f"open {path}"):
            self._conn: _Conn = duckdb.connect(path)
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing --------------------------------------------------------------------
    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """The one place where duckdb exceptions become :class:`StoreError`."""
        try:
            yield
        except duckdb.Error as error:
            detail = str(error).strip()
            if "lock" in detail.lower() and "conflicting" in detail.lower():
                raise StoreError(
                    f"cannot {doing}: the DuckDB file is in use by another process "
                    "(DuckDB allows one process at a time: stop the other storemon "
                    f"process, or use PostgreSQL). {detail}"
                ) from error
            raise StoreError(f"DuckDB failed to {doing}: {detail}") from error

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store {self.url} is closed")

    @contextmanager
    def _reader(self, doing: str) -> Iterator[_Conn]:
        """A fresh cursor that reads the last committed state, beside the writer."""
        self._check_open()
        with self._errors(doing):
            cursor = self._conn.cursor()
            try:
                yield cursor
            finally:
                cursor.close()

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[_Conn]:
        """The writer connection inside BEGIN … COMMIT (ROLLBACK on any error)."""
        with self._lock:
            self._check_open()
            with self._errors(doing):
                conn = self._conn
                conn.execute("BEGIN TRANSACTION")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._lock, self._errors("migrate the schema"):
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            rows = self._conn.execute("SELECT version FROM schema_migrations").fetchall()
            done = {row[0] for row in rows}
        for migration in migrations.DUCKDB:
            if migration.version in done:
                continue
            with self._transaction(f"apply migration {migration.version}") as conn:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [migration.version, migration.name, to_naive_utc(datetime.now(UTC))],
                )

    def close(self) -> None:
        """Release the connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with self._errors("close the database"):
                self._conn.close()

    def schema_version(self) -> int:
        """The highest migration applied."""
        with self._reader("read the schema version") as cur:
            row = _one(cur, "SELECT max(version) FROM schema_migrations")
        return int(row[0])

    # -- data ------------------------------------------------------------------------
    def apply_ingest(self, batch: IngestBatch) -> None:
        """Write one ingest atomically; see :meth:`storemon.store.base.Store.apply_ingest`."""
        batch = prepared(batch)
        files = json.dumps(dict(sorted(batch.files.items())))
        with self._transaction("apply an ingest") as conn:
            row = _one(conn, "SELECT coalesce(max(id), 0) + 1 FROM ingests")
            ingest_id = int(row[0])
            conn.execute(
                "INSERT INTO ingests VALUES (?, ?, ?)",
                [ingest_id, to_naive_utc(datetime.now(UTC)), files],
            )
            if batch.polls is not None and batch.polls.num_rows:
                self._upsert_polls(conn, batch.polls)
            if batch.hours is not None and batch.hours.num_rows:
                self._replace_hours(conn, batch.hours)
            if batch.timezones is not None and batch.timezones.num_rows:
                self._replace_timezones(conn, batch.timezones)
            if batch.rejects is not None and batch.rejects.num_rows:
                conn.register("_rejects_batch", batch.rejects)
                conn.execute(
                    "INSERT INTO rejects SELECT ?, source, file, line, reason, raw"
                    " FROM _rejects_batch",
                    [ingest_id],
                )
                conn.unregister("_rejects_batch")
            if changes_data(batch):
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")

    @staticmethod
    def _upsert_polls(conn: _Conn, polls: pa.Table) -> None:
        instants = polls.column("timestamp_utc").cast(pa.timestamp("us"))
        bounds = pc.min_max(instants)
        conn.register(
            "_polls_batch", with_row_numbers(polls.set_column(1, "timestamp_utc", instants))
        )
        # Ids not seen before get the next codes, numbered in byte order of the id (one
        # serialized writer: no other transaction assigns codes meanwhile).
        check_code_room(
            int(_one(conn, "SELECT coalesce(max(code), -1) FROM stores")[0]),
            polls.num_rows,
            lambda: int(
                _one(
                    conn,
                    "SELECT count(*) FROM (SELECT DISTINCT store_id FROM _polls_batch) n"
                    " WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.store_id = n.store_id)",
                )[0]
            ),
        )
        conn.execute(
            "INSERT INTO stores SELECT (top.code + row_number() OVER (ORDER BY n.store_id))"
            "::INTEGER, n.store_id FROM (SELECT DISTINCT store_id FROM _polls_batch) n,"
            " (SELECT coalesce(max(code), -1) AS code FROM stores) top"
            " WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.store_id = n.store_id)"
        )
        # One pass: last row wins inside the batch, ids become codes, joined with the
        # stored polls in the batch's time range (zone maps skip the rest), then only
        # changed polls are updated and only new ones inserted: a re-ingest writes nothing.
        conn.execute(
            "CREATE TEMP TABLE _polls_diff AS SELECT c.code AS store_code, s.timestamp_utc,"
            " s.active, p.active AS stored FROM (SELECT store_id, timestamp_utc,"
            " arg_max(active, _rn) AS active FROM _polls_batch"
            " GROUP BY store_id, timestamp_utc) s JOIN stores c ON c.store_id = s.store_id"
            " LEFT JOIN (SELECT * FROM polls WHERE timestamp_utc BETWEEN $lo AND $hi) p"
            " ON p.store_code = c.code AND p.timestamp_utc = s.timestamp_utc",
            {"lo": bounds["min"].as_py(), "hi": bounds["max"].as_py()},
        )
        conn.unregister("_polls_batch")
        conn.execute(
            "UPDATE polls SET active = d.active FROM _polls_diff d"
            " WHERE d.stored IS NOT NULL AND d.stored <> d.active"
            " AND polls.store_code = d.store_code AND polls.timestamp_utc = d.timestamp_utc"
        )
        conn.execute(
            "INSERT INTO polls SELECT store_code, timestamp_utc, active FROM _polls_diff"
            " WHERE stored IS NULL"
        )
        conn.execute(
            "UPDATE meta SET value = greatest(coalesce(value, -9223372036854775807), $latest)"
            " WHERE key = 'latest_poll_us'",
            {"latest": to_epoch_us(bounds["max"].as_py())},
        )
        conn.execute("DROP TABLE _polls_diff")

    @staticmethod
    def _replace_hours(conn: _Conn, hours: pa.Table) -> None:
        conn.register("_hours_batch", hours)
        conn.execute(
            "DELETE FROM hours WHERE store_id IN (SELECT DISTINCT store_id FROM _hours_batch)"
        )
        conn.execute(
            "INSERT INTO hours SELECT store_id, day_of_week, start_local_us, end_local_us"
            " FROM _hours_batch"
        )
        conn.unregister("_hours_batch")

    @staticmethod
    def _replace_timezones(conn: _Conn, timezones: pa.Table) -> None:
        conn.register("_zones_batch", with_row_numbers(timezones))
        conn.execute(
            "CREATE TEMP TABLE _zones_staged AS SELECT store_id,"
            " arg_max(timezone_str, _rn) AS timezone_str FROM _zones_batch GROUP BY store_id"
        )
        conn.unregister("_zones_batch")
        conn.execute("DELETE FROM timezones WHERE store_id IN (SELECT store_id FROM _zones_staged)")
        conn.execute("INSERT INTO timezones SELECT store_id, timezone_str FROM _zones_staged")
        conn.execute("DROP TABLE _zones_staged")

    def report_inputs(self, as_of: datetime | None) -> ReportInputs:
        """Polls in (as_of - 7 d, as_of] plus each store's last before, all hours and zones."""
        with self._reader("read the report inputs") as cur:
            cur.execute("BEGIN TRANSACTION")  # one snapshot for all three tables
            used = to_utc(as_of) if as_of is not None else self._latest(cur)
            if used is None:
                polls = schema.empty(CODED_POLLS)
            else:
                params = {
                    "as_of": to_naive_utc(used),
                    "cutoff": to_naive_utc(lookback_cutoff(used)),
                }
                rows = cur.sql(
                    "SELECT store_code, timestamp_utc, active FROM polls"
                    " WHERE timestamp_utc > $cutoff AND timestamp_utc <= $as_of"
                    " UNION ALL"
                    " SELECT store_code, max(timestamp_utc), arg_max(active, timestamp_utc)"
                    " FROM polls WHERE timestamp_utc <= $cutoff GROUP BY store_code",
                    params=params,
                ).to_arrow_table()
                stores = cur.sql("SELECT code, store_id FROM stores").to_arrow_table()
                polls = coded_polls(rows, stores)
            hours = cur.sql(
                "SELECT store_id, day_of_week, start_local_us, end_local_us FROM hours"
            ).to_arrow_table()
            zones = cur.sql("SELECT store_id, timezone_str FROM timezones").to_arrow_table()
            cur.execute("COMMIT")
        return ReportInputs(
            polls=polls,
            hours=conform(hours, schema.HOURS),
            timezones=conform(zones, schema.TIMEZONES),
            as_of=used,
        )

    @staticmethod
    def _latest(cur: _Conn) -> datetime | None:
        row = _one(cur, "SELECT value FROM meta WHERE key = 'latest_poll_us'")
        return None if row is None or row[0] is None else from_epoch_us(int(row[0]))

    def latest_poll_utc(self) -> datetime | None:
        """The latest poll instant stored, or None."""
        with self._reader("read the latest poll") as cur:
            return self._latest(cur)

    def counts(self) -> dict[str, int]:
        """Row counts; ``stores`` is the number of distinct stores with polls."""
        with self._reader("count rows") as cur:
            row = _one(
                cur,
                "SELECT (SELECT count(*) FROM polls), (SELECT count(*) FROM hours),"
                " (SELECT count(*) FROM timezones), (SELECT count(*) FROM rejects),"
                " (SELECT count(DISTINCT store_code) FROM polls)",
            )
        names = ("polls", "hours", "timezones", "rejects", "stores")
        return {name: int(value) for name, value in zip(names, row, strict=True)}

    def rejects(
        self, *, source: Source | None = None, limit: int = 100, offset: int = 0
    ) -> pa.Table:
        """Stored rejected rows, newest ingest first, then by source, file and line."""
        with self._reader("read rejected rows") as cur:
            table = cur.sql(
                "SELECT r.source, r.file, r.line, r.reason, r.raw, i.ingested_at"
                " FROM rejects r JOIN ingests i ON i.id = r.ingest_id"
                " WHERE $source IS NULL OR r.source = $source"
                " ORDER BY r.ingest_id DESC, r.source, r.file, r.line"
                " LIMIT $limit OFFSET $offset",
                params={"source": source, "limit": max(limit, 0), "offset": max(offset, 0)},
            ).to_arrow_table()
        return conform(table, _REJECTS_OUT)

    def data_version(self) -> int:
        """A counter bumped by every ingest."""
        with self._reader("read the data version") as cur:
            row = _one(cur, "SELECT value FROM meta WHERE key = 'data_version'")
        return int(row[0])

    # -- report jobs -----------------------------------------------------------------
    def insert_job(self, job: JobRecord) -> None:
        """Store a new job (its id must be new)."""
        with self._transaction(f"insert job {job.id}") as conn:
            conn.execute(
                f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    job.id,
                    job.status,
                    job.interpolation,
                    _naive(job.as_of_requested),
                    job.data_version,
                    to_naive_utc(job.created_at),
                    _naive(job.started_at),
                    _naive(job.finished_at),
                    _naive(job.as_of_used),
                    job.row_count,
                    job.error,
                    job.attempts,
                ],
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job with this id, or None."""
        with self._reader("read a job") as cur:
            row = _one(cur, f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", [job_id])
        return None if row is None else job_from_row(row)

    def list_jobs(self, *, limit: int = 50) -> list[JobRecord]:
        """Newest first."""
        with self._reader("list jobs") as cur:
            rows = cur.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?",
                [max(limit, 0)],
            ).fetchall()
        return [job_from_row(row) for row in rows]

    def find_reusable_job(
        self, *, as_of_requested: datetime | None, interpolation: Interpolation, data_version: int
    ) -> JobRecord | None:
        """The newest queued, running or complete job with these parameters on this data."""
        with self._reader("find a reusable job") as cur:
            row = _one(
                cur,
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ('queued', 'running', 'complete')"
                " AND as_of_requested IS NOT DISTINCT FROM ? AND interpolation = ?"
                " AND data_version = ? ORDER BY created_at DESC, id DESC LIMIT 1",
                [_naive(as_of_requested), interpolation, data_version],
            )
        return None if row is None else job_from_row(row)

    def mark_running(self, job_id: str, *, started_at: datetime) -> None:
        """Set a job running."""
        with self._transaction(f"mark job {job_id} running") as conn:
            _require_job(conn, job_id)
            conn.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1"
                " WHERE id = ?",
                [to_naive_utc(started_at), job_id],
            )

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
        with self._transaction(f"mark job {job_id} complete") as conn:
            _require_job(conn, job_id)
            conn.execute(
                "UPDATE jobs SET status = 'complete', finished_at = ?, as_of_used = ?,"
                " row_count = ?, error = NULL WHERE id = ?",
                [to_naive_utc(finished_at), _naive(as_of_used), row_count, job_id],
            )
            conn.execute("DELETE FROM job_results WHERE job_id = ?", [job_id])
            conn.execute("INSERT INTO job_results VALUES (?, ?)", [job_id, csv])

    def mark_failed(self, job_id: str, *, finished_at: datetime, error: str) -> None:
        """Set a job failed with an error message."""
        with self._transaction(f"mark job {job_id} failed") as conn:
            _require_job(conn, job_id)
            conn.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                [to_naive_utc(finished_at), error, job_id],
            )

    def job_result(self, job_id: str) -> bytes | None:
        """The CSV of a complete job, or None."""
        with self._reader("read a job result") as cur:
            row = _one(
                cur,
                "SELECT r.csv FROM job_results r JOIN jobs j ON j.id = r.job_id"
                " WHERE r.job_id = ? AND j.status = 'complete'",
                [job_id],
            )
        return None if row is None else bytes(row[0])

    def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs left queued or running, oldest first."""
        with self._reader("list unfinished jobs") as cur:
            rows = cur.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ('queued', 'running')"
                " ORDER BY created_at, id"
            ).fetchall()
        return [job_from_row(row) for row in rows]


def _naive(value: datetime | None) -> datetime | None:
    return None if value is None else to_naive_utc(value)


def _require_job(conn: _Conn, job_id: str) -> None:
    if _one(conn, "SELECT 1 FROM jobs WHERE id = ?", [job_id]) is None:
        raise ReportNotFound(job_id)


def _one(conn: _Conn, sql: str, params: list[object] | None = None) -> Any:
    """The first row of a query, or None; the result is consumed (DuckDB requires it)."""
    rows = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None
