"""The embedded DuckDB store (the default backend).

One process opens a DuckDB file at a time. Inside it, the data (ingests,
migrations, maintenance) are written through one connection under a lock; the
report jobs through a second connection of the same database under a lock of its
own, so a job is queued, started and completed while an ingest's transaction is
open (DuckDB's MVCC: the two transactions touch different tables, so they never
conflict). Each read gets its own cursor (``conn.cursor()``) and sees the last
committed state. Instants are
``TIMESTAMP`` columns holding UTC, and polls are keyed by integer store codes
(see :mod:`storemon.store.migrations`).
Every duckdb exception is translated to :class:`StoreError` in :meth:`_errors`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storemon import schema
from storemon.errors import ConfigError, StoreError
from storemon.instants import from_epoch_us, to_epoch_us, to_naive_utc, to_utc
from storemon.schema import Source
from storemon.store import migrations, retention
from storemon.store.arrow import (
    CODED_POLLS,
    REJECTS_OUT,
    REJECTS_SELECT,
    changes_data,
    check_code_room,
    coded_polls,
    conform,
    ledger_rows,
    poll_batches,
    prepared,
    with_row_numbers,
)
from storemon.store.base import (
    LOOKBACK,
    IngestBatch,
    ReportInputs,
    SettingsFallbacks,
    StoreRange,
    check_lookback,
    lookback_cutoff,
    read_fallbacks,
    splits_sql,
)
from storemon.store.job_table import Dialect, Execute, JobTable
from storemon.store.retention import PruneResult, boundary_of

__all__ = ["DuckDBStore"]

_Conn = Any  # duckdb.DuckDBPyConnection (duckdb ships no type information mypy reads)

_DIALECT: Final = Dialect(placeholder="?", instant=to_naive_utc)
#: Polls merged at once, at most: a larger table is cut into slices of this many rows.
#: Each merge scans the stored polls of its time range once, so fewer, larger tables are
#: faster (the ingest hands over tables of up to 16 MiB, about half a million polls);
#: its memory follows the table.
_MERGE_ROWS: Final = 1 << 20


class DuckDBStore(JobTable):
    """A :class:`storemon.store.Store` in a DuckDB file (or in memory for tests)."""

    _dialect = _DIALECT

    def __init__(
        self, url: str, path: str, *, create: bool = True, read_only: bool = False
    ) -> None:
        self.url = url
        self._path = path
        #: Opened read-only (a file only): other processes may read the file at the same
        #: time (the workers of a Dask cluster), none may write it; writes here fail.
        self.read_only = read_only and path != ":memory:"
        self._lock = threading.RLock()  # the data writer (self._conn)
        self._jobs_lock = threading.RLock()  # the job writer (self._jobs_conn)
        self._closed = False
        if path != ":memory:":
            file = Path(path).expanduser().resolve()
            if not file.parent.is_dir():
                raise ConfigError(
                    f"cannot open database {url}: directory {file.parent} does not exist "
                    "(create it, or fix the path in --db / STOREMON_DB)"
                )
            if not create and not file.exists():
                raise StoreError(
                    f"database {url} does not exist: no file {file} (check the path in "
                    "--db / STOREMON_DB; `storemon ingest` or `storemon demo` creates it)",
                    public="the database file does not exist",
                )
        if self.read_only and not Path(path).expanduser().exists():
            DuckDBStore(url, path).close()  # create=True: a new file, migrated
        with self._errors("open the database"):
            self._conn: _Conn = duckdb.connect(path, read_only=self.read_only)
        try:
            if not self.read_only:
                self._migrate()
            elif self._pending_migrations():
                self._conn.close()
                DuckDBStore(url, path, create=False).close()  # brings the schema up to date
                with self._errors("open the database"):
                    self._conn = duckdb.connect(path, read_only=True)
            with self._errors("open the database"):
                self._jobs_conn: _Conn = self._conn.cursor()
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
                    f"cannot {doing}: the DuckDB file {self._path} is in use by another "
                    "process, most likely a running `storemon serve` (DuckDB lets one "
                    "process open a file). While it runs, reach the same data through its "
                    "HTTP API: GET /reports, POST /trigger_report, GET /get_report, "
                    "POST /ingest/{source}, GET /rejects (see /docs), or load files "
                    "through its inbox; else stop it first. PostgreSQL lets several "
                    f"processes share one database. ({detail})",
                    public=f"cannot {doing}: the DuckDB file is in use by another process",
                ) from error
            raise StoreError(
                f"DuckDB failed to {doing}: {detail}",
                public=f"DuckDB failed to {doing} (see the server log)",
            ) from error

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store {self.url} is closed", public="the store is closed")

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

    def _transaction(self, doing: str) -> AbstractContextManager[_Conn]:
        """The data writer connection inside BEGIN … COMMIT (ROLLBACK on any error)."""
        return self._writing(self._lock, lambda: self._conn, doing)

    @contextmanager
    def _writing(
        self, lock: threading.RLock, connection: Callable[[], _Conn], doing: str
    ) -> Iterator[_Conn]:
        """``connection()`` inside BEGIN … COMMIT under ``lock`` (ROLLBACK on any error)."""
        with lock:
            self._check_open()
            with self._errors(doing):
                conn = connection()
                conn.execute("BEGIN TRANSACTION")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")

    def _job_rows(self, doing: str, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self._reader(doing) as cur:
            return _execute(cur)(sql, params)

    def _job_writes(self, doing: str) -> AbstractContextManager[Execute]:
        """A transaction on the job writer: it waits for other job writes, never for an
        ingest (whose transaction touches no job table: no write-write conflict). A job's
        ``data_version`` is read before, from the last committed state, so a job queued
        while an ingest is open carries the version before it, and a trigger after the
        ingest's commit reads the new version and never reuses it."""
        return _executing(self._writing(self._jobs_lock, lambda: self._jobs_conn, doing))

    def _pending_migrations(self) -> bool:
        """Whether the file's schema lacks a migration (a read-only open cannot apply it)."""
        with self._errors("open the database"):
            known = self._conn.execute(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_name = 'schema_migrations'"
            ).fetchall()[0][0]
            rows = (
                self._conn.execute("SELECT version FROM schema_migrations").fetchall()
                if known
                else []
            )
        done = {row[0] for row in rows}
        return any(migration.version not in done for migration in migrations.DUCKDB)

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
        """Release the connections. Idempotent."""
        with self._lock, self._jobs_lock:
            if self._closed:
                return
            self._closed = True
            with self._errors("close the database"):
                self._jobs_conn.close()
                self._conn.close()

    def execute_sql(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run one statement in a transaction of its own; its rows (maintenance, tests).
        It may write any table, the job tables too: both writers wait for it."""
        with self._lock, self._jobs_lock, self._transaction("run a statement") as conn:
            return _execute(conn)(sql, params)

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
            polls = self._upsert_polls(conn, *poll_batches(batch))
            if batch.hours is not None and batch.hours.num_rows:
                self._replace_hours(conn, batch.hours)
            if batch.timezones is not None and batch.timezones.num_rows:
                self._replace_timezones(conn, batch.timezones)
            if batch.rejects is not None and batch.rejects.num_rows:
                conn.register("_rejects_batch", batch.rejects)
                conn.execute(
                    "INSERT INTO rejects (ingest_id, source, file, line, reason, raw, store_id)"
                    " SELECT ?, source, file, line, reason, raw, store_id FROM _rejects_batch",
                    [ingest_id],
                )
                conn.unregister("_rejects_batch")
            for source, name, digest in ledger_rows(batch):
                conn.execute(
                    "INSERT INTO ingested_files VALUES (?, ?, ?, ?)",
                    [ingest_id, source, name, digest],
                )
            if changes_data(batch, polls):
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")

    @classmethod
    def _upsert_polls(cls, conn: _Conn, first: pa.Table | None, rest: Iterator[pa.Table]) -> int:
        """Merge the polls into the table one table at a time, in order (a table of more
        than :data:`_MERGE_ROWS` rows cut into slices of that size): memory follows one
        table, not the ingest, and a later row wins over an earlier one's as it
        overwrites it. How many poll rows there were."""
        if first is None:
            return 0
        rows = 0
        latest: datetime | None = None
        for chunk in _chunks(itertools.chain([first], rest), _MERGE_ROWS):
            rows += chunk.num_rows
            high = cls._merge_polls(conn, chunk)
            latest = high if latest is None else max(latest, high)
        if latest is None:
            raise AssertionError("poll_batches gave a first table without rows")
        conn.execute(
            "UPDATE meta SET value = greatest(coalesce(value, -9223372036854775807), $latest)"
            " WHERE key = 'latest_poll_us'",
            {"latest": to_epoch_us(latest)},
        )
        return rows

    @staticmethod
    def _merge_polls(conn: _Conn, polls: pa.Table) -> datetime:
        """Merge one table of polls: last row of a key wins inside it, it wins against the
        stored polls; only changed polls are updated, only new ones inserted (a re-ingest
        writes nothing). Its latest instant.

        The table is read in place through a relation (``from_arrow(...).query``), never
        registered: a view registered inside a transaction keeps its table alive until
        the transaction ends, which would hold every batch of the ingest.
        """
        batch = conn.from_arrow(_with_utc_instants(with_row_numbers(polls)))
        low, high = batch.query(
            "_batch", "SELECT min(timestamp_utc), max(timestamp_utc) FROM _batch"
        ).fetchall()[0]
        unknown = "NOT EXISTS (SELECT 1 FROM stores s WHERE s.store_id = n.store_id)"
        distinct = "(SELECT DISTINCT store_id FROM _batch) n"
        # Ids not seen before get the next codes, numbered in byte order of the id (one
        # serialized data writer: no other transaction assigns codes meanwhile).
        check_code_room(
            int(_one(conn, "SELECT coalesce(max(code), -1) FROM stores")[0]),
            polls.num_rows,
            lambda: int(
                batch.query(
                    "_batch", f"SELECT count(*) FROM {distinct} WHERE {unknown}"
                ).fetchall()[0][0]
            ),
        )
        batch.query(
            "_batch",
            "INSERT INTO stores SELECT (top.code + row_number() OVER (ORDER BY n.store_id))"
            f"::INTEGER, n.store_id FROM {distinct},"
            f" (SELECT coalesce(max(code), -1) AS code FROM stores) top WHERE {unknown}",
        )
        # One pass: last row wins inside the batch, ids become codes, joined with the
        # stored polls in the batch's time range (zone maps skip the rest).
        window = f"TIMESTAMP '{low.isoformat(' ')}' AND TIMESTAMP '{high.isoformat(' ')}'"
        diff = batch.query(
            "_batch",
            "SELECT c.code AS store_code, s.timestamp_utc, s.active, p.active AS stored"
            " FROM (SELECT store_id, timestamp_utc, arg_max(active, _rn) AS active FROM _batch"
            " GROUP BY store_id, timestamp_utc) s JOIN stores c ON c.store_id = s.store_id"
            f" LEFT JOIN (SELECT * FROM polls WHERE timestamp_utc BETWEEN {window}) p"
            " ON p.store_code = c.code AND p.timestamp_utc = s.timestamp_utc",
        ).to_arrow_table()
        stored = diff.column("stored")
        added = diff.filter(pc.is_null(stored)).select(["store_code", "timestamp_utc", "active"])
        if added.num_rows:
            # In time order, so each row group spans a slice of the batch's time range and
            # a report's read of its window skips the older ones by their zone maps (a
            # file's polls come in any order; the join above scrambles them too).
            conn.from_arrow(added).order("timestamp_utc").insert_into("polls")
        changed = diff.filter(pc.not_equal(stored, diff.column("active")))  # nulls drop out
        if changed.num_rows:
            conn.from_arrow(changed).query(
                "_changed",
                "UPDATE polls SET active = d.active FROM _changed d"
                " WHERE polls.store_code = d.store_code AND polls.timestamp_utc = d.timestamp_utc",
            )
        # Each store's first and latest poll (report_inputs reads them): the table's rows
        # are all stored now, so its first and latest per store count.
        conn.from_arrow(diff.select(["store_code", "timestamp_utc", "active"])).query(
            "_diff",
            "INSERT INTO poll_span SELECT store_code, min(timestamp_utc), max(timestamp_utc),"
            " arg_max(active, timestamp_utc) FROM _diff GROUP BY store_code"
            " ON CONFLICT (store_code) DO UPDATE SET"
            " first_utc = least(poll_span.first_utc, excluded.first_utc),"
            " latest_active = CASE WHEN excluded.latest_utc >= poll_span.latest_utc"
            " THEN excluded.latest_active ELSE poll_span.latest_active END,"
            " latest_utc = greatest(poll_span.latest_utc, excluded.latest_utc)",
        )
        return to_utc(high)

    def prune_polls(self, before: datetime, *, dry_run: bool = False) -> PruneResult:
        """Delete the polls before the week boundary at or before ``before``, except each
        store's last one before it; see :mod:`storemon.store.retention`."""
        boundary = boundary_of(to_utc(before))
        cut = {"boundary": to_naive_utc(boundary)}
        counting = (
            "SELECT count(*), count(DISTINCT store_code) FROM polls WHERE timestamp_utc < $boundary"
        )
        if dry_run:
            with self._reader("count the polls a prune would remove") as cur:
                total, kept = cur.execute(counting, cut).fetchall()[0]
                version = _one(cur, "SELECT value FROM meta WHERE key = 'data_version'")[0]
        else:
            with self._transaction("prune old polls") as conn:
                total, kept = conn.execute(counting, cut).fetchall()[0]
                if total > kept:
                    conn.execute(
                        "CREATE TEMP TABLE _polls_kept AS SELECT store_code,"
                        " max(timestamp_utc) AS timestamp_utc FROM polls"
                        " WHERE timestamp_utc < $boundary GROUP BY store_code",
                        cut,
                    )
                    retention.prune_step("keepers")
                    conn.execute(
                        "DELETE FROM polls WHERE timestamp_utc < $boundary AND NOT EXISTS"
                        " (SELECT 1 FROM _polls_kept k WHERE k.store_code = polls.store_code"
                        " AND k.timestamp_utc = polls.timestamp_utc)",
                        cut,
                    )
                    retention.prune_step("dropped")
                    # A store's keeper is now its first poll.
                    conn.execute(
                        "UPDATE poll_span SET first_utc = k.timestamp_utc FROM _polls_kept k"
                        " WHERE poll_span.store_code = k.store_code"
                    )
                    conn.execute("DROP TABLE _polls_kept")
                    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
                    retention.prune_step("kept")
                version = _one(conn, "SELECT value FROM meta WHERE key = 'data_version'")[0]
        return PruneResult(
            cut=to_utc(before),
            boundary=boundary,
            removed=int(total) - int(kept),
            kept=int(kept),
            partitions=0,
            dry_run=dry_run,
            data_version=int(version),
        )

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

    def report_inputs(
        self,
        as_of: datetime | None,
        *,
        lookback: timedelta = LOOKBACK,
        stores: StoreRange | None = None,
    ) -> ReportInputs:
        """Polls in (as_of - lookback, as_of] plus each store's last before, hours and zones
        (of ``stores`` only, when given)."""
        check_lookback(lookback)
        chosen, params = (stores or StoreRange()).sql("store_id", "${}")
        with self._reader("read the report inputs") as cur:
            cur.execute("BEGIN TRANSACTION")  # one snapshot for all three tables
            used = to_utc(as_of) if as_of is not None else self._latest(cur)
            if used is None:
                polls = schema.empty(CODED_POLLS)
            else:
                cut = {
                    **params,
                    "as_of": to_naive_utc(used),
                    "cutoff": to_naive_utc(lookback_cutoff(used, lookback)),
                }
                codes = (
                    ""
                    if stores is None
                    else (f" AND store_code IN (SELECT code FROM stores WHERE {chosen})")
                )
                rows = _last_before(cur, cut, params, codes)
                known = cur.sql(
                    f"SELECT code, store_id FROM stores WHERE {chosen}", params=params
                ).to_arrow_table()
                polls = coded_polls(rows, known)
            hours, zones = _settings(cur, chosen, params)
            cur.execute("COMMIT")
        return ReportInputs(polls=polls, hours=hours, timezones=zones, as_of=used)

    @staticmethod
    def _latest(cur: _Conn) -> datetime | None:
        row = _one(cur, "SELECT value FROM meta WHERE key = 'latest_poll_us'")
        return None if row is None or row[0] is None else from_epoch_us(int(row[0]))

    def latest_poll_utc(self) -> datetime | None:
        """The latest poll instant stored, or None."""
        with self._reader("read the latest poll") as cur:
            return self._latest(cur)

    def export_rows(self, stores: StoreRange) -> ReportInputs:
        """Every stored poll of ``stores``, their hours and zones (one snapshot)."""
        chosen, params = stores.sql("store_id", "${}")
        with self._reader("export the stored rows") as cur:
            cur.execute("BEGIN TRANSACTION")
            rows = cur.sql(
                "SELECT store_code, timestamp_utc, active FROM polls"
                f" WHERE store_code IN (SELECT code FROM stores WHERE {chosen})",
                params=params,
            ).to_arrow_table()
            known = cur.sql(
                f"SELECT code, store_id FROM stores WHERE {chosen}", params=params
            ).to_arrow_table()
            hours, zones = _settings(cur, chosen, params)
            latest = self._latest(cur)
            cur.execute("COMMIT")
        return ReportInputs(
            polls=coded_polls(rows, known), hours=hours, timezones=zones, as_of=latest
        )

    def store_splits(self, parts: int) -> list[str]:
        """Ids cutting the stores into ``parts`` ranges of equal count (DuckDB compares bytes)."""
        if parts <= 1:
            return []
        with self._reader("split the stores into ranges") as cur:
            return [str(row[0]) for row in cur.execute(splits_sql(parts)).fetchall()]

    def latest_ingest_utc(self) -> datetime | None:
        """When the latest ingest was stored, or None."""
        with self._reader("read the latest ingest") as cur:
            row = _one(cur, "SELECT max(ingested_at) FROM ingests")
        return None if row is None or row[0] is None else to_utc(row[0])

    def settings_fallbacks(self, *, limit: int = 10) -> SettingsFallbacks:
        """The stores whose settings fall back because all their rows were rejected."""
        with self._reader("find stores on default settings") as cur:
            return read_fallbacks(lambda sql: cur.execute(sql).fetchall(), limit)

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
        self,
        *,
        source: Source | None = None,
        file: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> pa.Table:
        """Stored rejected rows, newest ingest first, then by source, file and line."""
        params = {
            "source": source,
            "file": file,
            "limit": max(limit, 0),
            "offset": max(offset, 0),
        }
        with self._reader("read rejected rows") as cur:
            table = cur.sql(
                f"SELECT {REJECTS_SELECT} FROM rejects r JOIN ingests i ON i.id = r.ingest_id"
                " WHERE ($source IS NULL OR r.source = $source)"
                " AND ($file IS NULL OR r.file = $file)"
                " ORDER BY r.ingest_id DESC, r.source, r.file, r.line"
                " LIMIT $limit OFFSET $offset",
                params=params,
            ).to_arrow_table()
        return conform(table, REJECTS_OUT)

    def ingested_file(self, name: str, sha256: str) -> datetime | None:
        """When the file ``name`` with these contents was ingested (the latest time), or None."""
        with self._reader("look up an ingested file") as cur:
            row = _one(
                cur,
                "SELECT max(i.ingested_at) FROM ingested_files f JOIN ingests i"
                " ON i.id = f.ingest_id WHERE f.name = ? AND f.sha256 = ?",
                [name, sha256],
            )
        return None if row is None or row[0] is None else to_utc(row[0])

    def data_version(self) -> int:
        """A counter bumped by every ingest."""
        with self._reader("read the data version") as cur:
            row = _one(cur, "SELECT value FROM meta WHERE key = 'data_version'")
        return int(row[0])


def _chunks(tables: Iterator[pa.Table], size: int) -> Iterator[pa.Table]:
    """The tables in order, each one of more than ``size`` rows cut into slices of
    ``size`` (no copy). Tables are never gathered: the caller's tables are let go one by
    one (the ingest hands over tables of up to 16 MiB of Arrow data)."""
    for table in tables:
        for start in range(0, table.num_rows, size):
            yield table.slice(start, size)


#: The first slab of history searched for each store's last poll before a window: a
#: store polled about hourly has it there; one silent longer is looked for further back.
_SLAB: Final = timedelta(days=1)


def _last_before(
    cur: _Conn, cut: dict[str, Any], selection: dict[str, object], codes: str
) -> pa.Table:
    """The polls in ``(cutoff, as_of]`` plus each store's last poll at or before
    ``cutoff``, without scanning every older poll.

    ``poll_span`` holds each store's first and latest poll: a store whose latest poll is
    at or before the cutoff has it as its last before (a store that stopped polling costs
    nothing); a store whose first poll is after the cutoff has none; for the rest, the
    last one before is searched in the day before the cutoff (the ingest stores polls in
    time order, so zone maps skip the other row groups), then, for the stores not found
    there, in slabs twice as long each time further back, down to their first poll. So
    the read follows the window and the gaps of the stores, not the history kept.
    """
    span = codes.replace("store_code IN", "poll_span.store_code IN")
    cutoff: datetime = cut["cutoff"]
    slab = _before(cutoff, _SLAB)
    first_slab = {**cut, "slab": slab}
    rows: pa.Table = cur.sql(
        "SELECT store_code, timestamp_utc, active FROM polls"
        f" WHERE timestamp_utc > $cutoff AND timestamp_utc <= $as_of{codes}"
        " UNION ALL"
        " SELECT store_code, latest_utc, latest_active FROM poll_span"
        f" WHERE latest_utc <= $cutoff{span}"
        " UNION ALL"
        " SELECT store_code, max(timestamp_utc), arg_max(active, timestamp_utc) FROM polls"
        " WHERE timestamp_utc <= $cutoff AND timestamp_utc > $slab AND store_code IN"
        " (SELECT store_code FROM poll_span WHERE first_utc <= $cutoff"
        f" AND latest_utc > $cutoff{span}) GROUP BY store_code",
        params=first_slab,
    ).to_arrow_table()
    pending = cur.sql(
        "SELECT store_code, first_utc FROM poll_span WHERE first_utc <= $slab"
        f" AND latest_utc > $cutoff{span}",
        params={**selection, "slab": slab, "cutoff": cutoff},
    ).to_arrow_table()
    if not pending.num_rows:
        return rows
    # Stores not found in the first slab: older slabs, for them only.
    found = rows.column("store_code").to_numpy()
    stamps = rows.column("timestamp_utc").to_numpy()
    found = found[stamps <= np.datetime64(cutoff, "us")]
    missing = pending.filter(pa.array(~np.isin(pending.column("store_code").to_numpy(), found)))
    high, width, parts = slab, _SLAB * 2, [rows]
    while missing.num_rows:
        earliest = min(missing.column("first_utc").to_pylist())
        low: datetime | None = _before(high, width)
        if low is not None and low <= earliest:
            low = None
        cur.register("_missing", missing.select(["store_code"]))
        older = cur.sql(
            "SELECT store_code, max(timestamp_utc) AS timestamp_utc,"
            " arg_max(active, timestamp_utc) AS active FROM polls WHERE timestamp_utc <= $high"
            + ("" if low is None else " AND timestamp_utc > $low")
            + " AND store_code IN (SELECT store_code FROM _missing) GROUP BY store_code",
            params={"high": high, **({} if low is None else {"low": low})},
        ).to_arrow_table()
        cur.unregister("_missing")
        parts.append(older.cast(rows.schema))
        if low is None:
            break
        missing = missing.filter(
            pa.array(
                ~np.isin(
                    missing.column("store_code").to_numpy(), older.column("store_code").to_numpy()
                )
            )
        )
        high, width = low, width * 2
    whole: pa.Table = pa.concat_tables(parts)
    return whole


def _before(instant: datetime, length: timedelta) -> datetime:
    """``instant - length``, or the earliest datetime when that is before year 1."""
    return instant - length if instant - datetime.min > length else datetime.min


def _settings(cur: _Conn, chosen: str, params: dict[str, object]) -> tuple[pa.Table, pa.Table]:
    """The hours and zones of the stores ``chosen`` selects (report_inputs, export_rows)."""
    hours = cur.sql(
        f"SELECT store_id, day_of_week, start_local_us, end_local_us FROM hours WHERE {chosen}",
        params=params,
    ).to_arrow_table()
    zones = cur.sql(
        f"SELECT store_id, timezone_str FROM timezones WHERE {chosen}", params=params
    ).to_arrow_table()
    return conform(hours, schema.HOURS), conform(zones, schema.TIMEZONES)


def _with_utc_instants(polls: pa.Table) -> pa.Table:
    """Polls with naive ``timestamp[us]`` instants (DuckDB's TIMESTAMP, holding UTC)."""
    instants = polls.column("timestamp_utc").cast(pa.timestamp("us"))
    return polls.set_column(1, "timestamp_utc", instants)


def _execute(conn: _Conn) -> Execute:
    """:data:`Execute` on a DuckDB connection or cursor."""

    def run(sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = conn.execute(sql, list(params)).fetchall()
        return rows

    return run


@contextmanager
def _executing(opened: AbstractContextManager[_Conn]) -> Iterator[Execute]:
    with opened as conn:
        yield _execute(conn)


def _one(conn: _Conn, sql: str, params: list[object] | None = None) -> Any:
    """The first row of a query, or None; the result is consumed (DuckDB requires it)."""
    rows = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None
