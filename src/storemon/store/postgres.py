"""The PostgreSQL store.

Connections come from a small lock-protected pool (autocommit sessions with
``TimeZone=UTC``; writes use explicit transactions). Bulk paths never loop per
row in Python:

- ingest: the batch's distinct store ids are ``COPY``-ed to the server, new ones
  get codes in ``stores``, and the codes come back in bulk; the polls, keyed by
  code, are de-duplicated and sorted in Arrow, written as CSV with instants as
  epoch microseconds, ``COPY``-ed into a temporary table and left-joined once with
  ``polls``; one ``UPDATE`` writes the changed polls and one ``INSERT`` the new
  ones, so re-ingesting a file writes no poll;
- report inputs: each column is aggregated server-side into one ``bytea`` of its
  binary send format (``string_agg(timestamptz_send(...))`` …), fetched in binary
  and turned into Arrow buffers with numpy, in a few chunks; polls come as codes
  and ``stores`` once, joined into a dictionary-typed ``store_id`` in numpy.

Every psycopg exception is translated to :class:`StoreError` in :meth:`_errors`.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from numpy.typing import NDArray
from psycopg.pq import TransactionStatus

from storemon import schema
from storemon.errors import StoreError
from storemon.instants import from_epoch_us, to_utc
from storemon.schema import Source
from storemon.store import migrations
from storemon.store.arrow import (
    CODED_POLLS,
    REJECTS_IN,
    REJECTS_OUT,
    REJECTS_SELECT,
    changes_data,
    check_code_room,
    coded_polls,
    last_per_key,
    ledger_rows,
    prepared,
)
from storemon.store.base import (
    LOOKBACK,
    IngestBatch,
    ReportInputs,
    check_lookback,
    lookback_cutoff,
)
from storemon.store.job_table import Dialect, Execute, JobTable
from storemon.store.urls import redact_url

__all__ = ["PostgresStore"]

log = logging.getLogger("storemon.store.postgres")

_Conn = psycopg.Connection[Any]

#: Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
_PG_EPOCH_US: Final = 946_684_800_000_000
_MIGRATION_LOCK: Final = 7_263_001
_INGEST_LOCK: Final = 7_263_002
_POOL_SIZE: Final = 4  # at most this many connections open at once per store
_POOL_WAIT_SECONDS: Final = 60.0  # how long a caller waits for a busy pool
_COPY_CHUNK: Final = 1 << 20
_ROWS_PER_CHUNK: Final = 4_000_000  # report_inputs: keeps each bytea far below 1 GB
# Whole seconds and the rest apart: interval * bigint goes through float8, which is
# exact only within about 285 years of 1970 when counted in microseconds.
_EPOCH_SQL: Final = (
    "(timestamptz 'epoch' + ({0} / 1000000) * interval '1 second'"
    " + ({0} % 1000000) * interval '1 microsecond')"
)


def _fields(*fields: pa.Field[Any]) -> pa.Schema:
    return pa.schema(list(fields))


#: What ingest and report_inputs read by code: polls, the stores, a batch's codes.
_CODED_ROWS: Final = schema.POLLS.set(0, pa.field("store_code", pa.int32(), nullable=False))
_STORES: Final = _fields(
    pa.field("code", pa.int32(), nullable=False),
    pa.field("store_id", pa.string(), nullable=False),
)
_CODES_BY_POSITION: Final = _fields(
    pa.field("position", pa.int32(), nullable=False),
    pa.field("code", pa.int32(), nullable=False),
)

_DIALECT: Final = Dialect(placeholder="%s", instant=to_utc)


class _FairSlots:
    """A counting semaphore that serves waiters first come, first served.

    ``threading.Semaphore`` lets a thread that releases and re-acquires in a loop
    overtake those already waiting, which starved an ingest behind busy readers.
    Here a released slot is handed straight to the oldest waiter.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()

    def waiting(self) -> int:
        """Threads waiting for a slot now."""
        with self._lock:
            return len(self._waiters)

    def acquire(self, timeout: float) -> bool:
        """Take a slot, waiting at most ``timeout`` seconds; False if none came."""
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._lock:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        return True  # handed a slot just as the wait timed out

    def release(self) -> None:
        """Give a slot back: to the oldest waiter, else to the free count."""
        with self._lock:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._free += 1


class _Pool:
    """At most ``size`` connections behind a lock (psycopg_pool is not a dependency).

    Fair slots bound the connections open at once: a burst of threads waits, first
    come first served, for a free one (up to :data:`_POOL_WAIT_SECONDS`, then
    :class:`StoreError`) instead of opening one each. Every exit path gives the
    slot back.
    """

    def __init__(self, conninfo: str, size: int) -> None:
        self._conninfo = conninfo
        self._size = size
        self._idle: list[_Conn] = []
        self._slots = _FairSlots(size)
        self._lock = threading.Lock()
        self._open = 0
        self._closed = False

    def open_connections(self) -> int:
        """Connections open now (in use or idle)."""
        with self._lock:
            return self._open

    def _connect(self) -> _Conn:
        conn: _Conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
        try:
            # UTC session; no JIT (its compile time exceeds its gain on these queries);
            # sorts and hashes of a report's inputs fit in memory.
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute("SET jit = off")
            conn.execute("SET work_mem = '64MB'")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def connection(self) -> Iterator[_Conn]:
        """An idle pooled connection, or a new one; returned to the pool if still healthy."""
        if not self._slots.acquire(_POOL_WAIT_SECONDS):
            raise StoreError(
                f"all {self._size} PostgreSQL connections of this process stayed busy for "
                f"{_POOL_WAIT_SECONDS:g} s (a long ingest or report holds them; retry later)"
            )
        try:
            with self._lock:
                if self._closed:
                    raise StoreError("the store is closed")
                conn = self._idle.pop() if self._idle else None
                if conn is None:
                    self._open += 1
            if conn is not None and (conn.closed or conn.broken):
                conn.close()
                conn = None
            if conn is None:
                try:
                    conn = self._connect()
                except BaseException:
                    with self._lock:
                        self._open -= 1
                    raise
            try:
                yield conn
            finally:
                # Reused only when idle and sound (a broken or mid-transaction one is closed).
                reusable = (
                    not conn.closed
                    and not conn.broken
                    and conn.info.transaction_status == TransactionStatus.IDLE
                )
                with self._lock:
                    if reusable and not self._closed:
                        self._idle.append(conn)
                        conn = None
                    else:
                        self._open -= 1
                if conn is not None:
                    conn.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            conn.close()


class PostgresStore(JobTable):
    """A :class:`storemon.store.Store` in a PostgreSQL database."""

    _dialect = _DIALECT

    def __init__(self, url: str, conninfo: str, *, create: bool = True) -> None:
        self.url = url
        self._display = redact_url(url)
        self._pool = _Pool(conninfo, _POOL_SIZE)
        self._closed = False
        try:
            with self._errors("connect"), self._pool.connection() as conn:
                encoding = conn.execute("SHOW server_encoding").fetchone()
                if encoding is None or str(encoding[0]).upper() not in {"UTF8", "UTF-8"}:
                    raise StoreError(
                        f"database {self._display} uses encoding {encoding}: storemon "
                        "needs UTF8 (CREATE DATABASE ... ENCODING 'UTF8')"
                    )
                self._migrate(conn)
        except BaseException:
            self._pool.close()
            raise

    # -- plumbing --------------------------------------------------------------------
    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """The one place where psycopg exceptions become :class:`StoreError`."""
        try:
            yield
        except psycopg.Error as error:
            detail = str(error).strip()
            if _about_the_connection(error):
                raise StoreError(
                    f"cannot {doing} with PostgreSQL at {self._display}: {detail} (is the "
                    "server running and the URL in --db / STOREMON_DB right?)"
                ) from error
            raise StoreError(f"PostgreSQL failed to {doing}: {detail}") from error

    @contextmanager
    def _session(self, doing: str) -> Iterator[_Conn]:
        """A pooled autocommit connection for reads."""
        if self._closed:
            raise StoreError(f"the store {self._display} is closed")
        with self._errors(doing), self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[_Conn]:
        """A pooled connection inside one transaction (rolled back on any error)."""
        with self._session(doing) as conn, conn.transaction():
            yield conn

    def _job_reads(self, doing: str) -> AbstractContextManager[Execute]:
        return _executing(self._session(doing))

    def _job_writes(self, doing: str) -> AbstractContextManager[Execute]:
        return _executing(self._transaction(doing))

    @staticmethod
    def _migrate(conn: _Conn) -> None:
        with conn.transaction():  # the lock keeps two processes from racing here
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL)"
            )
        for migration in migrations.POSTGRES:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
                done = conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", [migration.version]
                ).fetchone()
                if done is not None:
                    continue
                for statement in migration.statements:
                    conn.execute(statement.encode())
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, now())",
                    [migration.version, migration.name],
                )

    def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        self._closed = True
        self._pool.close()

    def schema_version(self) -> int:
        """The highest migration applied."""
        with self._session("read the schema version") as conn:
            row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
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
            settle = False
            if batch.polls is not None and batch.polls.num_rows:
                settle = self._upsert_polls(conn, batch.polls)
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
            if changes_data(batch):
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
        if settle:
            self._settle_polls()

    def _settle_polls(self) -> None:
        """VACUUM (ANALYZE) polls after a large load (the data is committed already).

        Doing it now, rather than leaving it to autovacuum at some later moment, keeps
        the next reads and ingests from paying for hint bits and visibility on the
        new rows, and gives the planner statistics at once. A failure is only logged.
        """
        try:
            with self._session("vacuum polls") as conn:
                conn.execute("VACUUM (ANALYZE) polls")
        except StoreError as error:
            log.warning("ingest stored; VACUUM (ANALYZE) polls failed: %s", error)

    @staticmethod
    def _upsert_polls(conn: _Conn, polls: pa.Table) -> bool:
        """Merge polls into the table; True when the batch is large for the table."""
        codes = _store_codes(conn, polls.column("store_id"))
        keyed = pa.table(
            {
                "store_code": codes,
                "us": polls.column("timestamp_utc").cast(pa.int64()),
                "active": polls.column("active"),
            }
        )
        table = last_per_key(keyed, ["store_code", "us"])  # sorted by key
        conn.execute(
            "CREATE TEMP TABLE _polls_staged (store_code integer NOT NULL,"
            " us bigint NOT NULL, active boolean NOT NULL) ON COMMIT DROP"
        )
        _copy_csv(conn, "_polls_staged (store_code, us, active)", table)
        conn.execute("ANALYZE _polls_staged")
        # One join finds, for each batch poll, the stored status (NULL: a new poll); then
        # only changed polls are updated and only new ones inserted (in key order).
        conn.execute(
            "CREATE TEMP TABLE _polls_diff ON COMMIT DROP AS"
            " SELECT s.store_code, s.timestamp_utc, s.active, p.active AS stored FROM"
            f" (SELECT store_code, {_EPOCH_SQL.format('us')} AS timestamp_utc, active"
            " FROM _polls_staged) s LEFT JOIN polls p"
            " ON p.store_code = s.store_code AND p.timestamp_utc = s.timestamp_utc"
        )
        conn.execute(
            "UPDATE polls p SET active = d.active FROM _polls_diff d"
            " WHERE d.stored IS NOT NULL AND d.stored <> d.active"
            " AND p.store_code = d.store_code AND p.timestamp_utc = d.timestamp_utc"
        )
        before = _estimated_rows(conn, "polls")
        inserted = conn.execute(
            "INSERT INTO polls (store_code, timestamp_utc, active)"
            " SELECT store_code, timestamp_utc, active FROM _polls_diff WHERE stored IS NULL"
        ).rowcount
        latest = pc.max(table.column("us")).as_py()
        conn.execute(
            "UPDATE meta SET value = greatest(value, %s) WHERE key = 'latest_poll_us'", [latest]
        )
        return inserted * 10 > before  # else autovacuum's job

    @staticmethod
    def _replace_hours(conn: _Conn, hours: pa.Table) -> None:
        conn.execute(
            'CREATE TEMP TABLE _hours_staged (store_id text COLLATE "C" NOT NULL,'
            " day_of_week smallint NOT NULL, start_local_us bigint NOT NULL,"
            " end_local_us bigint NOT NULL) ON COMMIT DROP"
        )
        _copy_csv(conn, "_hours_staged", hours)
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
        _copy_csv(conn, "_zones_staged", last_per_key(timezones, ["store_id"]))
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
        _copy_csv(conn, f"rejects ({names})", pa.table(columns))

    def report_inputs(
        self, as_of: datetime | None, *, lookback: timedelta = LOOKBACK
    ) -> ReportInputs:
        """Polls in (as_of - lookback, as_of] plus each store's last before, all hours and zones."""
        check_lookback(lookback)
        with self._session("read the report inputs") as conn, conn.transaction():
            # One snapshot for all three tables.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            used = to_utc(as_of) if as_of is not None else self._latest(conn)
            if used is None:
                polls = schema.empty(CODED_POLLS)
            else:
                # Each store's last poll before the window: one probe of the primary key
                # per store (a LATERAL ... LIMIT 1), not a scan of every older poll.
                rows = _bulk_select(
                    conn,
                    "SELECT store_code, timestamp_utc, active FROM polls"
                    " WHERE timestamp_utc > %(cutoff)s AND timestamp_utc <= %(as_of)s"
                    " UNION ALL"
                    " SELECT s.code, last.timestamp_utc, last.active FROM stores s"
                    " CROSS JOIN LATERAL (SELECT timestamp_utc, active FROM polls"
                    " WHERE store_code = s.code AND timestamp_utc <= %(cutoff)s"
                    " ORDER BY timestamp_utc DESC LIMIT 1) AS last",
                    {"as_of": used, "cutoff": lookback_cutoff(used, lookback)},
                    _CODED_ROWS,
                    _estimated_rows(conn, "polls"),
                )
                stores = _bulk_select(
                    conn,
                    "SELECT code, store_id FROM stores",
                    {},
                    _STORES,
                    _estimated_rows(conn, "stores"),
                )
                polls = coded_polls(rows, stores)
            hours = _bulk_select(
                conn,
                "SELECT store_id, day_of_week, start_local_us, end_local_us FROM hours",
                {},
                schema.HOURS,
                _estimated_rows(conn, "hours"),
            )
            zones = _bulk_select(
                conn,
                "SELECT store_id, timezone_str FROM timezones",
                {},
                schema.TIMEZONES,
                _estimated_rows(conn, "timezones"),
            )
        return ReportInputs(polls=polls, hours=hours, timezones=zones, as_of=used)

    @staticmethod
    def _latest(conn: _Conn) -> datetime | None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'latest_poll_us'").fetchone()
        return None if row is None or row[0] is None else from_epoch_us(int(row[0]))

    def latest_poll_utc(self) -> datetime | None:
        """The latest poll instant stored, or None."""
        with self._session("read the latest poll") as conn:
            return self._latest(conn)

    def counts(self) -> dict[str, int]:
        """Row counts; ``stores`` is the number of distinct stores with polls."""
        with self._session("count rows") as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM polls), (SELECT count(*) FROM hours),"
                " (SELECT count(*) FROM timezones), (SELECT count(*) FROM rejects),"
                " (SELECT count(*) FROM stores s"
                " WHERE EXISTS (SELECT FROM polls p WHERE p.store_code = s.code))"
            ).fetchone()
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
        with self._session("read rejected rows") as conn:
            rows = conn.execute(
                f"SELECT {REJECTS_SELECT} FROM rejects r JOIN ingests i ON i.id = r.ingest_id"
                " WHERE (%(source)s::text IS NULL OR r.source = %(source)s::text)"
                " AND (%(file)s::text IS NULL OR r.file = %(file)s::text)"
                " ORDER BY r.ingest_id DESC, r.source, r.file, r.line"
                " LIMIT %(limit)s OFFSET %(offset)s",
                params,
            ).fetchall()
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
        with self._session("look up an ingested file") as conn:
            row = conn.execute(
                "SELECT max(i.ingested_at) FROM ingested_files f JOIN ingests i"
                " ON i.id = f.ingest_id WHERE f.name = %s AND f.sha256 = %s",
                [name, sha256],
            ).fetchone()
        return None if row is None or row[0] is None else to_utc(row[0])

    def data_version(self) -> int:
        """A counter bumped by every ingest."""
        with self._session("read the data version") as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return int(row[0]) if row else 0


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


def _about_the_connection(error: psycopg.Error) -> bool:
    """Whether ``error`` is about reaching the server (then the URL is worth checking).

    psycopg raises ``OperationalError`` for those, but also for limits the server
    answered with (an index entry too large, out of memory), which say nothing about
    the URL: only client-side failures (no SQLSTATE), connection exceptions (08),
    refused logins (28) and server shutdowns (57P) count.
    """
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    return state is None or state.startswith(("08", "28", "57P"))


def _store_codes(conn: _Conn, store_ids: pa.ChunkedArray[Any]) -> NDArray[np.int32]:
    """Each row's store code; ids not yet in ``stores`` get codes first.

    Only the batch's distinct ids go to the server (with their position), and the
    codes come back in bulk. New ids are numbered after the highest code, in byte
    order. Ingests hold a transaction-level advisory lock, so no other one assigns
    codes meanwhile; should one ever, the unique constraints make it fail and roll
    back rather than give an id two codes, and ``ON CONFLICT`` skips an id inserted
    first by another (its code is then read back like any stored one).
    """
    encoded = pc.dictionary_encode(store_ids).combine_chunks()
    assert isinstance(encoded, pa.DictionaryArray)
    distinct = encoded.dictionary
    conn.execute(
        "CREATE TEMP TABLE _ids_staged (position integer NOT NULL,"
        ' store_id text COLLATE "C" NOT NULL) ON COMMIT DROP'
    )
    positions = pa.array(np.arange(len(distinct), dtype=np.int32))
    _copy_csv(
        conn,
        "_ids_staged (position, store_id)",
        pa.table([positions, distinct], names=["position", "store_id"]),
    )
    conn.execute("ANALYZE _ids_staged")
    highest = conn.execute("SELECT coalesce(max(code), -1) FROM stores").fetchone()
    check_code_room(
        int(highest[0]) if highest else -1,
        len(distinct),
        lambda: _count(
            conn,
            "SELECT count(*) FROM _ids_staged i"
            " WHERE NOT EXISTS (SELECT FROM stores s WHERE s.store_id = i.store_id)",
        ),
    )
    conn.execute(
        "INSERT INTO stores (code, store_id)"
        " SELECT top.code + row_number() OVER (ORDER BY i.store_id), i.store_id"
        " FROM _ids_staged i, (SELECT coalesce(max(code), -1) AS code FROM stores) AS top"
        " WHERE NOT EXISTS (SELECT FROM stores s WHERE s.store_id = i.store_id)"
        " ON CONFLICT (store_id) DO NOTHING"
    )
    found = _bulk_select(
        conn,
        "SELECT i.position, s.code FROM _ids_staged i JOIN stores s ON s.store_id = i.store_id",
        {},
        _CODES_BY_POSITION,
        len(distinct),
    )
    if found.num_rows != len(distinct):  # pragma: no cover - the insert gives every id a code
        raise StoreError(f"{len(distinct) - found.num_rows} store ids got no code")
    codes = np.empty(len(distinct), dtype=np.int32)
    codes[found.column("position").to_numpy()] = found.column("code").to_numpy()
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    result: NDArray[np.int32] = codes[indices]
    return result


def _count(conn: _Conn, query: str) -> int:
    """The number a ``SELECT count(*) ...`` gives."""
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _copy_csv(conn: _Conn, target: str, table: pa.Table) -> None:
    """``COPY target FROM STDIN`` the rows of ``table`` (CSV written by Arrow, sent in chunks)."""
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    data = buffer.getbuffer()
    with conn.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN (FORMAT csv)") as copy:
        for start in range(0, len(data), _COPY_CHUNK):
            copy.write(data[start : start + _COPY_CHUNK])


def _estimated_rows(conn: _Conn, table: str) -> int:
    """The planner's row estimate for ``table`` (0 if never analyzed)."""
    row = conn.execute(
        "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass", [table]
    ).fetchone()
    return int(row[0]) if row else 0


def _bulk_select(
    conn: _Conn, query: str, params: dict[str, object], target: pa.Schema, estimate: int
) -> pa.Table:
    """The rows of ``query`` (columns as in ``target``) as an Arrow table, in bulk.

    Each column is aggregated server-side into one ``bytea`` of its binary send
    format and decoded with numpy: no per-row work in Python. Rows are split into
    ``2^k`` chunks by the first column (a hash of it when it is text, its low bits
    when it is an integer code) so that each ``bytea`` stays far below PostgreSQL's
    1 GB limit. Row order is not kept.
    """
    chunks = 1
    while chunks * _ROWS_PER_CHUNK < estimate:
        chunks *= 2
    aggregates: list[str] = []
    for field in target:
        name = field.name
        if pa.types.is_string(field.type):
            aggregates.append(f"string_agg(textsend({name}), ''::bytea)")
            aggregates.append(f"string_agg(int4send(octet_length({name})), ''::bytea)")
        elif pa.types.is_timestamp(field.type):
            aggregates.append(f"string_agg(timestamptz_send({name}), ''::bytea)")
        elif pa.types.is_boolean(field.type):
            aggregates.append(f"string_agg(boolsend({name}), ''::bytea)")
        elif pa.types.is_int32(field.type):
            aggregates.append(f"string_agg(int4send({name}), ''::bytea)")
        elif pa.types.is_integer(field.type):
            aggregates.append(f"string_agg(int8send({name}::bigint), ''::bytea)")
        else:  # pragma: no cover - the schemas hold only these types
            raise TypeError(f"no bulk decoder for {field}")
    statement = f"WITH chosen AS ({query}) SELECT {', '.join(aggregates)}, count(*) FROM chosen"
    if chunks > 1:
        first = target.field(0)
        key = f"hashtext({first.name})" if pa.types.is_string(first.type) else first.name
        statement += f" GROUP BY {key} & {chunks - 1}"
    else:
        statement += " HAVING count(*) > 0"  # no rows: no chunk (not one of NULLs)
    with conn.cursor(binary=True) as cur:
        cur.execute(statement.encode(), params)
        parts = [_decode_chunk(list(row), target) for row in cur.fetchall()]
    if not parts:
        return schema.empty(target)
    return pa.concat_tables(parts).combine_chunks()


def _decode_chunk(values: list[Any], target: pa.Schema) -> pa.Table:
    """One chunk of :func:`_bulk_select`: byte strings in column order, then the row count."""
    rows = int(values[-1])
    position = 0
    arrays: list[pa.Array[Any]] = []
    for field in target:
        data = bytes(values[position])
        position += 1
        if pa.types.is_string(field.type):
            offsets = np.zeros(rows + 1, dtype=np.int32)
            np.cumsum(np.frombuffer(values[position], dtype=">i4"), out=offsets[1:])
            position += 1
            arrays.append(
                pa.StringArray.from_buffers(rows, pa.py_buffer(offsets.data), pa.py_buffer(data))
            )
        elif pa.types.is_timestamp(field.type):
            micros = np.frombuffer(data, dtype=">i8").astype(np.int64) + _PG_EPOCH_US
            arrays.append(pa.array(micros, field.type))
        elif pa.types.is_boolean(field.type):
            arrays.append(pa.array(np.frombuffer(data, dtype=np.uint8).astype(bool)))
        elif pa.types.is_int32(field.type):
            arrays.append(pa.array(np.frombuffer(data, dtype=">i4").astype(np.int32)))
        else:
            numbers = np.frombuffer(data, dtype=">i8").astype(field.type.to_pandas_dtype())
            arrays.append(pa.array(numbers, field.type))
    return pa.Table.from_arrays(arrays, schema=target)
