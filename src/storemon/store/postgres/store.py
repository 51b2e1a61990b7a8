"""The PostgreSQL store.

Connections come from :mod:`storemon.store.postgres.connections` (a psycopg_pool
pool, errors translated in one place); the bulk paths (COPY in, binary aggregates
out) are in :mod:`storemon.store.postgres.bulk`; the schema in
:mod:`storemon.store.postgres.migrate`; the job table is shared with DuckDB
(:mod:`storemon.store.job_table`). Bulk paths never loop per row in Python:

- ingest: the batch's store ids get their codes in bulk; the polls, keyed by code,
  are de-duplicated and sorted in Arrow, written as CSV with instants as epoch
  microseconds, ``COPY``-ed into a temporary table and left-joined once with
  ``polls``; one ``UPDATE`` writes the changed polls and one ``INSERT`` the new
  ones, so re-ingesting a file writes no poll;
- report inputs: polls come as codes and ``stores`` once, joined into a
  dictionary-typed ``store_id`` in numpy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from storemon import schema
from storemon.errors import StoreError
from storemon.instants import from_epoch_us, to_epoch_us, to_utc
from storemon.schema import Source
from storemon.store.arrow import (
    CODED_POLLS,
    REJECTS_IN,
    REJECTS_OUT,
    REJECTS_SELECT,
    changes_data,
    coded_polls,
    last_per_key,
    ledger_rows,
    poll_batches,
    prepared,
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
from storemon.store.postgres import bulk, partitions
from storemon.store.postgres.connections import Connections, configure
from storemon.store.postgres.migrate import (
    check_encoding,
    create_database,
    createdb_command,
    migrate,
    missing_database,
)
from storemon.store.retention import PruneResult, boundary_of
from storemon.store.urls import redact_url

__all__ = ["PostgresStore"]

log = logging.getLogger("storemon.store.postgres")

_Conn = psycopg.Connection[Any]
T = TypeVar("T")

_INGEST_LOCK: Final = 7_263_002
_CONNECT_TIMEOUT_SECONDS: Final = 10
# Whole seconds and the rest apart: interval * bigint goes through float8, which is
# exact only within about 285 years of 1970 when counted in microseconds.
_EPOCH_SQL: Final = (
    "(timestamptz 'epoch' + ({0} / 1000000) * interval '1 second'"
    " + ({0} % 1000000) * interval '1 microsecond')"
)
_DIALECT: Final = Dialect(placeholder="%s", instant=to_utc, row_locks=" FOR UPDATE SKIP LOCKED")


class PostgresStore(JobTable):
    """A :class:`storemon.store.Store` in a PostgreSQL database."""

    _dialect = _DIALECT

    def __init__(self, url: str, conninfo: str, *, create: bool = True) -> None:
        self.url = url
        self.read_only = False
        self._display = redact_url(url)
        #: The pooled connections (public for status pages and tests).
        self.connections = Connections(conninfo, self._display)
        try:
            self._open(conninfo, create=create)
        except BaseException:
            self.connections.close()
            raise

    def _open(self, conninfo: str, *, create: bool) -> None:
        """Check the encoding and migrate, on a connection of its own (the pool connects
        in the background, and would not say why a first connection failed). A
        database that does not exist is created (``create``), or a StoreError says how."""
        with self.connections.errors("connect"):
            try:
                conn = self._connect(conninfo)
            except psycopg.OperationalError:
                missing = missing_database(conninfo)
                if missing is None:
                    raise
                if not create:
                    raise StoreError(
                        f'PostgreSQL database "{missing}" does not exist ({self._display}): '
                        f"create it with `{createdb_command(conninfo, missing)}`, or run a "
                        "storemon command that writes (`storemon ingest`, `storemon demo`), "
                        "which creates it",
                        public="the database does not exist",
                    ) from None
                create_database(conninfo, missing)
                log.warning("created the PostgreSQL database %s", missing)
                conn = self._connect(conninfo)
            try:
                configure(conn)
                encoding = check_encoding(conn)
                if encoding is not None:
                    raise StoreError(
                        f"database {self._display} uses encoding {encoding}: storemon "
                        "needs UTF8 (CREATE DATABASE ... ENCODING 'UTF8')",
                        public=f"the database uses encoding {encoding}: storemon needs UTF8",
                    )
                migrate(conn)
            finally:
                conn.close()

    @staticmethod
    def _connect(conninfo: str) -> _Conn:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_SECONDS)

    # -- plumbing --------------------------------------------------------------------
    def _session(self, doing: str) -> AbstractContextManager[_Conn]:
        """A pooled autocommit connection, errors translated."""
        return self.connections.session(doing)

    def _transaction(self, doing: str) -> AbstractContextManager[_Conn]:
        """A pooled connection inside one transaction (rolled back on any error)."""
        return self.connections.transaction(doing)

    def _read(self, doing: str, body: Callable[[_Conn], T]) -> T:
        """``body(conn)``, an idempotent read, on a pooled connection."""
        return self.connections.read(doing, body)

    def _job_rows(self, doing: str, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        return self._read(doing, lambda conn: _execute(conn)(sql, params))

    def _job_writes(self, doing: str) -> AbstractContextManager[Execute]:
        return _executing(self._transaction(doing))

    def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        self.connections.close()

    def execute_sql(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run one statement in a transaction of its own; its rows (maintenance, tests)."""
        with self._transaction("run a statement") as conn:
            return _execute(conn)(sql, params)

    def schema_version(self) -> int:
        """The highest migration applied."""

        row = self._one("read the schema version", "SELECT max(version) FROM schema_migrations")
        return int(row[0]) if row else 0

    # -- data ------------------------------------------------------------------------
    def apply_ingest(self, batch: IngestBatch) -> None:
        """Write one ingest atomically; see :meth:`storemon.store.base.Store.apply_ingest`."""
        batch = prepared(batch)
        files = json.dumps(dict(sorted(batch.files.items())))
        with self._transaction("apply an ingest") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_INGEST_LOCK])
            conn.execute("SET LOCAL work_mem = '256MB'")
            row = conn.execute(
                "INSERT INTO ingests (ingested_at, files) VALUES (now(), %s) RETURNING id",
                [files],
            ).fetchone()
            ingest_id = int(row[0]) if row else 0
            polls, settle = self._upsert_polls(conn, *poll_batches(batch))
            if batch.hours is not None and batch.hours.num_rows:
                self._replace_hours(conn, batch.hours)
            if batch.timezones is not None and batch.timezones.num_rows:
                self._replace_timezones(conn, batch.timezones)
            if batch.rejects is not None and batch.rejects.num_rows:
                self._append_rejects(conn, batch.rejects, ingest_id)
            for source, name, digest in ledger_rows(batch):
                conn.execute(
                    "INSERT INTO ingested_files VALUES (%s, %s, %s, %s)",
                    [ingest_id, source, name, digest],
                )
            if changes_data(batch, polls):
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
        if settle:
            self._settle_polls(settle)

    def _settle_polls(self, tables: list[str]) -> None:
        """VACUUM (ANALYZE) polls after a large load (the data is committed already).

        Doing it now, rather than leaving it to autovacuum at some later moment, keeps
        the next reads and ingests from paying for hint bits and visibility on the
        new rows, and gives the planner statistics at once. A failure is only logged.
        """
        try:
            with self._session("vacuum polls") as conn:
                conn.execute(f"VACUUM (ANALYZE) {', '.join(tables)}".encode())
        except StoreError as error:
            log.warning("ingest stored; VACUUM (ANALYZE) polls failed: %s", error)

    @staticmethod
    def _stage_polls(conn: _Conn, polls: pa.Table, batch: int) -> tuple[int, int, int, set[int]]:
        """COPY one table of polls, keyed by code and de-duplicated (last row wins), into
        ``_polls_staged`` with its batch number; its row count, earliest and latest
        instant (us), and the weeks it holds (their starts, us)."""
        codes = bulk.store_codes(conn, polls.column("store_id"))
        keyed = pa.table(
            {
                "store_code": codes,
                "us": polls.column("timestamp_utc").cast(pa.int64()),
                "active": polls.column("active"),
            }
        )
        table = last_per_key(keyed, ["store_code", "us"])  # sorted by key
        if batch:  # the first batch leaves the default, 0: a single table costs no more
            table = table.append_column("batch", pa.array(np.full(table.num_rows, batch, np.int32)))
        bulk.copy_csv(conn, f"_polls_staged ({', '.join(table.column_names)})", table)
        us = table.column("us").to_numpy()
        return polls.num_rows, int(us.min()), int(us.max()), partitions.weeks_of(us)

    @classmethod
    def _upsert_polls(
        cls, conn: _Conn, first: pa.Table | None, rest: Iterator[pa.Table]
    ) -> tuple[int, list[str]]:
        """Merge the polls into the table, staging one batch at a time; how many poll
        rows there were, and the partitions to VACUUM when they were many for the table
        (else none: autovacuum's job)."""
        if first is None:
            return 0, []
        conn.execute(
            "CREATE TEMP TABLE _polls_staged (store_code integer NOT NULL,"
            " us bigint NOT NULL, active boolean NOT NULL, batch integer NOT NULL DEFAULT 0)"
            " ON COMMIT DROP"
        )
        rows, earliest, latest, weeks = cls._stage_polls(conn, first, 0)
        batches = 1
        for polls in rest:
            more, low, high, more_weeks = cls._stage_polls(conn, polls, batches)
            rows, batches = rows + more, batches + 1
            earliest, latest, weeks = min(earliest, low), max(latest, high), weeks | more_weeks
        conn.execute("ANALYZE _polls_staged")
        # The weeks' partitions exist before the insert (created in this transaction).
        targets = partitions.create_for(conn, weeks)
        # The batch's time range: the join and the update touch only its partitions.
        span = (
            f" AND p.timestamp_utc >= {_EPOCH_SQL.format(f'{earliest}::bigint')}"
            f" AND p.timestamp_utc <= {_EPOCH_SQL.format(f'{latest}::bigint')}"
        )
        # Several batches may hold one poll: the later batch's row wins.
        staged = (
            "_polls_staged"
            if batches == 1
            else "(SELECT DISTINCT ON (store_code, us) store_code, us, active"
            " FROM _polls_staged ORDER BY store_code, us, batch DESC) AS latest"
        )
        # One join finds, for each batch poll, the stored status (NULL: a new poll); then
        # only changed polls are updated and only new ones inserted (in key order).
        conn.execute(
            "CREATE TEMP TABLE _polls_diff ON COMMIT DROP AS"
            " SELECT s.store_code, s.timestamp_utc, s.active, p.active AS stored FROM"
            f" (SELECT store_code, {_EPOCH_SQL.format('us')} AS timestamp_utc, active"
            f" FROM {staged}) s LEFT JOIN polls p"
            f" ON p.store_code = s.store_code AND p.timestamp_utc = s.timestamp_utc{span}"
        )
        conn.execute(
            "UPDATE polls p SET active = d.active FROM _polls_diff d"
            " WHERE d.stored IS NOT NULL AND d.stored <> d.active"
            f" AND p.store_code = d.store_code AND p.timestamp_utc = d.timestamp_utc{span}"
        )
        before = bulk.estimated_rows(conn, "polls")
        # Straight into each partition, in key order: no routing of every row through
        # the parent (measured slower), and B-tree inserts stay cheap.
        inserted = 0
        for name, lower, upper in targets:
            bounds = f"timestamp_utc < {_EPOCH_SQL.format(f'{upper}::bigint')}"
            if lower is not None:
                bounds += f" AND timestamp_utc >= {_EPOCH_SQL.format(f'{lower}::bigint')}"
            inserted += conn.execute(
                f"INSERT INTO {name} (store_code, timestamp_utc, active)"
                " SELECT store_code, timestamp_utc, active FROM _polls_diff"
                f" WHERE stored IS NULL AND {bounds} ORDER BY store_code, timestamp_utc".encode()
            ).rowcount
        conn.execute(
            "UPDATE meta SET value = greatest(value, %s) WHERE key = 'latest_poll_us'", [latest]
        )
        return rows, ([name for name, _, _ in targets] if inserted * 10 > before else [])

    def prune_polls(self, before: datetime, *, dry_run: bool = False) -> PruneResult:
        """Drop the weekly partitions before the week boundary at or before ``before``,
        keeping each store's last poll before it; see :mod:`storemon.store.retention`."""
        boundary = boundary_of(to_utc(before))
        with self._transaction("prune old polls") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_INGEST_LOCK])
            if dry_run:
                conn.execute("SET TRANSACTION READ ONLY")
            removed, kept, dropped = partitions.prune(conn, to_epoch_us(boundary), dry_run=dry_run)
            if removed and not dry_run:
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
            row = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return PruneResult(
            cut=to_utc(before),
            boundary=boundary,
            removed=removed,
            kept=kept,
            partitions=dropped,
            dry_run=dry_run,
            data_version=int(row[0]) if row else 0,
        )

    @staticmethod
    def _replace_hours(conn: _Conn, hours: pa.Table) -> None:
        conn.execute(
            'CREATE TEMP TABLE _hours_staged (store_id text COLLATE "C" NOT NULL,'
            " day_of_week smallint NOT NULL, start_local_us bigint NOT NULL,"
            " end_local_us bigint NOT NULL) ON COMMIT DROP"
        )
        bulk.copy_csv(conn, "_hours_staged", hours)
        conn.execute(
            "DELETE FROM hours WHERE store_id IN (SELECT DISTINCT store_id FROM _hours_staged)"
        )
        conn.execute("INSERT INTO hours SELECT * FROM _hours_staged")

    @staticmethod
    def _replace_timezones(conn: _Conn, timezones: pa.Table) -> None:
        conn.execute(
            'CREATE TEMP TABLE _zones_staged (store_id text COLLATE "C" NOT NULL,'
            " timezone_str text NOT NULL) ON COMMIT DROP"
        )
        bulk.copy_csv(conn, "_zones_staged", last_per_key(timezones, ["store_id"]))
        conn.execute(
            "INSERT INTO timezones SELECT store_id, timezone_str FROM _zones_staged"
            " ON CONFLICT (store_id) DO UPDATE SET timezone_str = excluded.timezone_str"
            " WHERE timezones.timezone_str IS DISTINCT FROM excluded.timezone_str"
        )

    @staticmethod
    def _append_rejects(conn: _Conn, rejects: pa.Table, ingest_id: int) -> None:
        columns: dict[str, pa.Array[Any] | pa.ChunkedArray[Any]] = {
            "ingest_id": pa.array(np.full(rejects.num_rows, ingest_id, dtype=np.int64))
        }
        for name in REJECTS_IN.names:
            column = rejects.column(name)
            if pa.types.is_string(column.type):  # PostgreSQL text cannot hold NUL
                column = pc.replace_substring(column, "\x00", "\ufffd")
            columns[name] = column
        names = ", ".join(columns)
        bulk.copy_csv(conn, f"rejects ({names})", pa.table(columns))

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
        return self._read(
            "read the report inputs", lambda conn: self._inputs(conn, as_of, lookback, stores)
        )

    def _inputs(
        self, conn: _Conn, as_of: datetime | None, lookback: timedelta, stores: StoreRange | None
    ) -> ReportInputs:
        selection = stores or StoreRange()
        chosen, params = selection.sql("store_id", "%({})s")
        of_store, _ = selection.sql("s.store_id", "%({})s")
        # A selection reads its stores' polls through the primary key (store_code first).
        codes = ""
        if stores is not None:
            codes = f" AND store_code IN (SELECT code FROM stores WHERE {chosen})"
        one = stores is not None and stores.only is not None
        with conn.transaction():
            # One snapshot for all three tables.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            used = to_utc(as_of) if as_of is not None else self._latest(conn)
            if used is None:
                polls = schema.empty(CODED_POLLS)
            else:
                # Each store's last poll before the window: one probe of the primary key
                # per store (a LATERAL ... LIMIT 1), not a scan of every older poll.
                query = (
                    "SELECT store_code, timestamp_utc, active FROM polls"
                    f" WHERE timestamp_utc > %(cutoff)s AND timestamp_utc <= %(as_of)s{codes}"
                    " UNION ALL"
                    " SELECT s.code, last.timestamp_utc, last.active FROM stores s"
                    " CROSS JOIN LATERAL (SELECT timestamp_utc, active FROM polls"
                    " WHERE store_code = s.code AND timestamp_utc <= %(cutoff)s"
                    f" ORDER BY timestamp_utc DESC LIMIT 1) AS last WHERE {of_store}"
                )
                cutoff = lookback_cutoff(used, lookback)
                bounds = {**params, "as_of": used, "cutoff": cutoff}
                # One store's rows cannot be split (the chunks are by store code).
                rows = bulk.bulk_select(
                    conn,
                    query,
                    bounds,
                    bulk.CODED_ROWS,
                    1 if one else bulk.planned_rows(conn, query, bounds),
                    at_most=0
                    if one
                    else partitions.rows_at_most(conn, to_epoch_us(cutoff), to_epoch_us(used)),
                )
                known = bulk.bulk_select(
                    conn,
                    f"SELECT code, store_id FROM stores WHERE {chosen}",
                    params,
                    bulk.STORES,
                    bulk.estimated_rows(conn, "stores"),
                )
                polls = coded_polls(rows, known)
            hours, zones = _settings(conn, chosen, params)
        return ReportInputs(polls=polls, hours=hours, timezones=zones, as_of=used)

    @staticmethod
    def _latest(conn: _Conn) -> datetime | None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'latest_poll_us'").fetchone()
        return None if row is None or row[0] is None else from_epoch_us(int(row[0]))

    def latest_poll_utc(self) -> datetime | None:
        """The latest poll instant stored, or None."""
        return self._read("read the latest poll", self._latest)

    def export_rows(self, stores: StoreRange) -> ReportInputs:
        """Every stored poll of ``stores``, their hours and zones (one snapshot)."""
        chosen, params = stores.sql("store_id", "%({})s")

        def body(conn: _Conn) -> ReportInputs:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                query = (
                    "SELECT store_code, timestamp_utc, active FROM polls"
                    f" WHERE store_code IN (SELECT code FROM stores WHERE {chosen})"
                )
                rows = bulk.bulk_select(
                    conn,
                    query,
                    params,
                    bulk.CODED_ROWS,
                    bulk.planned_rows(conn, query, params),
                    at_most=partitions.rows_at_most(conn),
                )
                known = bulk.bulk_select(
                    conn,
                    f"SELECT code, store_id FROM stores WHERE {chosen}",
                    params,
                    bulk.STORES,
                    bulk.estimated_rows(conn, "stores"),
                )
                hours, zones = _settings(conn, chosen, params)
                return ReportInputs(coded_polls(rows, known), hours, zones, self._latest(conn))

        return self._read("export the stored rows", body)

    def store_splits(self, parts: int) -> list[str]:
        """Ids cutting the stores into ``parts`` ranges of equal count, in byte order."""
        if parts <= 1:
            return []
        sql = splits_sql(parts, ' COLLATE "C"')
        return self._read(
            "split the stores into ranges",
            lambda conn: [str(row[0]) for row in conn.execute(sql).fetchall()],
        )

    def latest_ingest_utc(self) -> datetime | None:
        """When the latest ingest was stored, or None."""
        row = self._one("read the latest ingest", "SELECT max(ingested_at) FROM ingests")
        return None if row is None or row[0] is None else to_utc(row[0])

    def settings_fallbacks(self, *, limit: int = 10) -> SettingsFallbacks:
        """The stores whose settings fall back because all their rows were rejected."""
        return self._read(
            "find stores on default settings",
            lambda conn: read_fallbacks(lambda sql: conn.execute(sql).fetchall(), limit),
        )

    def counts(self) -> dict[str, int]:
        """Row counts; ``stores`` is the number of distinct stores with polls."""
        row = self._one(
            "count rows",
            "SELECT (SELECT count(*) FROM polls), (SELECT count(*) FROM hours),"
            " (SELECT count(*) FROM timezones), (SELECT count(*) FROM rejects),"
            " (SELECT count(*) FROM stores s"
            " WHERE EXISTS (SELECT FROM polls p WHERE p.store_code = s.code))",
        )
        names = ("polls", "hours", "timezones", "rejects", "stores")
        return {name: int(value) for name, value in zip(names, row or (), strict=True)}

    def rejects(
        self,
        *,
        source: Source | None = None,
        file: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> pa.Table:
        """Stored rejected rows, newest ingest first, then by source, file and line."""
        params = {"source": source, "file": file, "limit": max(limit, 0), "offset": max(offset, 0)}
        rows = self._read(
            "read rejected rows",
            lambda conn: conn.execute(
                f"SELECT {REJECTS_SELECT} FROM rejects r JOIN ingests i ON i.id = r.ingest_id"
                " WHERE (%(source)s::text IS NULL OR r.source = %(source)s::text)"
                " AND (%(file)s::text IS NULL OR r.file = %(file)s::text)"
                " ORDER BY r.ingest_id DESC, r.source, r.file, r.line"
                " LIMIT %(limit)s OFFSET %(offset)s",
                params,
            ).fetchall(),
        )
        # A page of at most ``limit`` rows, for people: no bulk path needed.
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(REJECTS_OUT)
        return pa.Table.from_arrays(
            [
                pa.array(list(values), field.type)
                for values, field in zip(columns, REJECTS_OUT, strict=True)
            ],
            schema=REJECTS_OUT,
        )

    def ingested_file(self, name: str, sha256: str) -> datetime | None:
        """When the file ``name`` with these contents was ingested (the latest time), or None."""
        if "\x00" in name:  # PostgreSQL text holds no NUL: no such file was stored
            return None
        row = self._one(
            "look up an ingested file",
            "SELECT max(i.ingested_at) FROM ingested_files f JOIN ingests i"
            " ON i.id = f.ingest_id WHERE f.name = %s AND f.sha256 = %s",
            [name, sha256],
        )
        return None if row is None or row[0] is None else to_utc(row[0])

    def data_version(self) -> int:
        """A counter bumped by every ingest."""
        row = self._one(
            "read the data version", "SELECT value FROM meta WHERE key = 'data_version'"
        )
        return int(row[0]) if row else 0

    def _one(self, doing: str, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        """The first row of one read, or None."""
        return self._read(doing, lambda conn: conn.execute(sql, params).fetchone())


def _execute(conn: _Conn) -> Execute:
    """:data:`Execute` on a psycopg connection (binary results: bytea as bytes, no hex)."""

    def run(sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with conn.cursor(binary=True) as cur:
            cur.execute(sql.encode(), list(params))
            return list(cur.fetchall()) if cur.description is not None else []

    return run


@contextmanager
def _executing(opened: AbstractContextManager[_Conn]) -> Iterator[Execute]:
    with opened as conn:
        yield _execute(conn)


def _settings(conn: _Conn, chosen: str, params: dict[str, object]) -> tuple[pa.Table, pa.Table]:
    """The hours and zones of the stores ``chosen`` selects (report_inputs, export_rows)."""
    hours = bulk.bulk_select(
        conn,
        f"SELECT store_id, day_of_week, start_local_us, end_local_us FROM hours WHERE {chosen}",
        params,
        schema.HOURS,
        bulk.estimated_rows(conn, "hours"),
    )
    zones = bulk.bulk_select(
        conn,
        f"SELECT store_id, timezone_str FROM timezones WHERE {chosen}",
        params,
        schema.TIMEZONES,
        bulk.estimated_rows(conn, "timezones"),
    )
    return hours, zones
