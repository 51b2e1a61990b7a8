"""PostgreSQL-only behaviour: connection errors, chunked bulk reads."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from pg_sessions import terminate_sessions
from storemon.errors import StoreError
from storemon.instants import to_epoch_us
from storemon.store import IngestBatch, StoreRange, open_store
from storemon.store.migrations import SCHEMA_VERSION
from storemon.store.postgres import PostgresStore, bulk, connections, partitions

if TYPE_CHECKING:
    from conftest import Tables


def _text_ids(polls: pa.Table) -> pa.Table:
    """Report-input polls with the dictionary-typed ``store_id`` cast to text."""
    return polls.set_column(0, "store_id", polls.column("store_id").cast(pa.string()))


def test_unreachable_server_says_what_to_check() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://someone:secret@127.0.0.1:1/nowhere")
    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "is the server running" in message
    assert "secret" not in message
    for shown in (caught.value.public, message):
        assert "secret" not in shown
    for private in ("127.0.0.1", "someone", "nowhere"):
        assert private not in caught.value.public


@pytest.mark.postgres
def test_a_store_id_too_long_for_an_index_fails_the_ingest_with_the_server_reason(
    pg_url: str, tables: type[Tables]
) -> None:
    # Not compressible below B-tree's limit of 2 704 bytes per entry (`x` * 4000 would be).
    long_id = "".join(f"{i * 7919 % 100_003:05d}" for i in range(800))
    store = open_store(pg_url)
    try:
        with pytest.raises(StoreError) as caught:
            store.apply_ingest(
                IngestBatch(polls=tables.polls([(long_id, "2023-01-23 10:00", True)]))
            )
        message = str(caught.value)
        assert "index row size" in message
        # The server answered: no hint that it might be down or the URL wrong.
        assert message.startswith("PostgreSQL failed to apply an ingest")
        assert "is the server running" not in message
        assert store.counts()["polls"] == 0
    finally:
        store.close()


@pytest.mark.postgres
def test_bulk_reads_in_several_chunks_give_every_row(
    pg_url: str, tables: type[Tables], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(pg_url)
    try:
        start = datetime(2023, 1, 20, tzinfo=UTC)
        rows = [(f"s{i % 37}", start + timedelta(minutes=7 * i), i % 3 == 0) for i in range(500)]
        store.apply_ingest(IngestBatch(polls=tables.polls(rows)))
        whole = _text_ids(store.report_inputs(None).polls)
        monkeypatch.setattr(bulk, "_ROWS_PER_CHUNK", 16)  # 500 rows -> 32 chunks
        decoded: list[int] = []
        decode = bulk._decode_chunk

        def counted(values: list[Any], target: pa.Schema) -> pa.Table:
            decoded.append(1)
            return decode(values, target)

        monkeypatch.setattr(bulk, "_decode_chunk", counted)
        chunked = _text_ids(store.report_inputs(None).polls)
        assert len(decoded) > 2  # the polls in several chunks, the stores in one or more
        assert chunked.num_rows == whole.num_rows == 500
        assert chunked.sort_by([("store_id", "ascending"), ("timestamp_utc", "ascending")]).equals(
            whole.sort_by([("store_id", "ascending"), ("timestamp_utc", "ascending")])
        )
        expected = sorted((store_id, at, active) for store_id, at, active in rows)
        assert sorted(tuple(row.values()) for row in chunked.to_pylist()) == expected
    finally:
        store.close()


def test_chunks_follow_the_estimate_unless_the_bound_needs_more() -> None:
    week = 168_000_000  # a week of 1 M stores polled hourly
    bound = 2 * week  # a week's window on its two partitions
    assert bulk.chunk_count(week, bound, 13) == 64  # the estimate's chunks, as before
    assert bulk.chunk_count(week // 4, bound, 13) == 16  # a cluster's partition of 4
    assert bulk.chunk_count(0, bound, 13) == 8  # no statistics: 42 M rows, 546 MB each
    assert bulk.chunk_count(0, 61_000_000, 13) == 1  # 768 MiB is 61.9 M rows of 13 bytes
    assert bulk.chunk_count(0, 63_000_000, 13) == 2
    assert bulk.chunk_count(1, 0) == bulk.chunk_count(0, 0) == 1


@pytest.mark.postgres
def test_the_bound_of_a_read_holds_every_row_it_can_give(pg_url: str, tables: type[Tables]) -> None:
    """rows_at_most counts pages, not statistics: at least the rows stored, and close."""
    store = open_store(pg_url)
    try:
        start = datetime(2023, 1, 2, tzinfo=UTC)
        rows = [(f"s{i % 50}", start + timedelta(minutes=i), True) for i in range(30_000)]
        store.apply_ingest(IngestBatch(polls=tables.polls(rows)))  # 3 weeks, 3 partitions
        week = (datetime(2023, 1, 16, tzinfo=UTC), datetime(2023, 1, 22, 20, tzinfo=UTC))
        in_week = sum(1 for _, at, _ in rows if week[0] < at <= week[1])
        assert isinstance(store, PostgresStore)
        with store._session("test") as conn:
            every = partitions.rows_at_most(conn)
            one_week = partitions.rows_at_most(conn, *(to_epoch_us(at) for at in week))
        assert 30_000 + 50 <= every <= 1.1 * 30_000 + 300  # one page of stores: 291 rows
        assert in_week + 50 <= one_week <= 1.1 * in_week + 300  # its one partition
    finally:
        store.close()


@pytest.mark.postgres
def test_the_bound_holds_what_each_window_reads_across_weeks_and_after_a_prune(
    pg_url: str, tables: type[Tables]
) -> None:
    """For windows that cross a week boundary, start before the kept polls of a prune or
    after them, the bound is at least the rows the report's read gives."""
    store = open_store(pg_url)
    try:
        start = datetime(2023, 1, 2, tzinfo=UTC)  # a Monday: weeks of 2, 9, 16 January
        rows = [(f"s{i % 50}", start + timedelta(minutes=i), i % 3 > 0) for i in range(30_000)]
        store.apply_ingest(IngestBatch(polls=tables.polls(rows)))
        assert isinstance(store, PostgresStore)
        ends = [datetime(2023, 1, d, h, tzinfo=UTC) for d, h in ((12, 6), (16, 0), (19, 3))]

        def check() -> None:
            for as_of in ends:
                for lookback in (timedelta(days=7), timedelta(hours=30)):
                    read = store.report_inputs(as_of, lookback=lookback).polls.num_rows
                    after = to_epoch_us(as_of - lookback)
                    with store._session("test") as conn:
                        bound = partitions.rows_at_most(conn, after, to_epoch_us(as_of))
                    assert read <= bound, (as_of, lookback, read, bound)

        check()
        store.prune_polls(datetime(2023, 1, 9, tzinfo=UTC))  # week 1 into polls_kept
        check()
    finally:
        store.close()


@pytest.mark.postgres
def test_a_read_the_planner_underestimates_is_still_cut_into_chunks(
    pg_url: str, tables: type[Tables], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An estimate of 0 or 1 row (a partition never analyzed) would put every row in one
    chunk; the bound on disk still cuts the read so no chunk holds more than the cap."""
    store = open_store(pg_url)
    try:
        start = datetime(2023, 1, 16, tzinfo=UTC)
        rows = [(f"s{i % 40}", start + timedelta(minutes=3 * i), i % 4 == 0) for i in range(6000)]
        store.apply_ingest(IngestBatch(polls=tables.polls(rows)))  # 12.5 days, 2 partitions
        whole = _text_ids(store.report_inputs(None).polls)
        everything = _text_ids(store.export_rows(StoreRange()).polls)
        monkeypatch.setattr(bulk, "_MOST_BYTES_PER_CHUNK", 500 * 13)  # 500 polls
        sizes: list[int] = []
        decode = bulk._decode_chunk

        def counted(values: list[Any], target: pa.Schema) -> pa.Table:
            chunk = decode(values, target)
            if target == bulk.CODED_ROWS:
                sizes.append(chunk.num_rows)
            return chunk

        monkeypatch.setattr(bulk, "_decode_chunk", counted)
        for estimate in (0, 1):
            monkeypatch.setattr(bulk, "planned_rows", lambda *_: estimate)  # noqa: B023
            sizes.clear()
            read = _text_ids(store.report_inputs(None).polls)
            # The bound: 2 partitions (~6000 polls) and a page of stores, / 500: 16 chunks.
            assert len(sizes) >= 8, sizes
            assert sum(sizes) == read.num_rows == whole.num_rows
            assert _sorted(read).equals(_sorted(whole))
            sizes.clear()
            exported = _text_ids(store.export_rows(StoreRange()).polls)
            assert len(sizes) >= 8, sizes
            assert sum(sizes) == exported.num_rows == everything.num_rows == 6000
            assert _sorted(exported).equals(_sorted(everything))
    finally:
        store.close()


def _sorted(polls: pa.Table) -> pa.Table:
    return polls.sort_by([("store_id", "ascending"), ("timestamp_utc", "ascending")])


@pytest.mark.postgres
def test_a_report_read_is_estimated_at_its_window_not_the_history(
    pg_url: str, tables: type[Tables], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The estimate sizes the bulk read's chunks: the whole table's would cut a week's
    read of a long history into chunks it does not need (a GROUP BY that costs time)."""
    store = open_store(pg_url)
    try:
        start = datetime(2023, 1, 2, tzinfo=UTC)
        rows = [(f"s{i % 20}", start + timedelta(minutes=9 * i), True) for i in range(8 * 1120)]
        store.apply_ingest(IngestBatch(polls=tables.polls(rows)))  # 8 weeks, 1120 polls each
        store.execute_sql("ANALYZE polls")
        estimates: list[int] = []
        select = bulk.bulk_select

        def spy(
            conn: Any, query: str, params: Any, target: pa.Schema, estimate: int, **bound: int
        ) -> pa.Table:
            estimates.append(estimate)
            return select(conn, query, params, target, estimate, **bound)

        monkeypatch.setattr(bulk, "bulk_select", spy)
        assert store.report_inputs(None).polls.num_rows == 1120 + 20
        assert 500 <= estimates[0] <= 3 * 1120  # one week and a store's last before each
    finally:
        store.close()


@pytest.mark.postgres
def test_two_processes_opening_a_new_database_at_once_migrate_it_once(pg_url: str) -> None:
    import threading

    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            open_store(pg_url).close()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = open_store(pg_url)
    try:
        assert store.schema_version() == SCHEMA_VERSION
    finally:
        store.close()


@pytest.mark.postgres
def test_a_burst_of_threads_never_opens_more_connections_than_the_pool_bound(
    pg_url: str,
) -> None:
    import threading

    opened = open_store(pg_url)
    assert isinstance(opened, PostgresStore)
    pool = opened.connections
    lock = threading.Lock()
    busy = 0
    most = 0
    errors: list[BaseException] = []

    def reader() -> None:
        nonlocal busy, most
        try:
            with pool.connection("read") as conn:
                with lock:
                    busy += 1
                    most = max(most, busy)
                conn.execute("SELECT pg_sleep(0.05)")
                with lock:
                    busy -= 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(3 * connections.POOL_SIZE)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert 1 <= most <= connections.POOL_SIZE
        assert pool.open_connections() <= connections.POOL_SIZE
    finally:
        opened.close()
    assert pool.open_connections() == 0


@pytest.mark.postgres
def test_a_failing_session_gives_its_connection_back(pg_url: str) -> None:
    opened = open_store(pg_url)
    assert isinstance(opened, PostgresStore)
    try:
        for _ in range(3 * connections.POOL_SIZE):  # would exhaust the bound if one leaked
            with pytest.raises(StoreError), opened.connections.session("fail on purpose") as conn:
                conn.execute("SELECT no_such_column FROM meta")
            with (
                pytest.raises(StoreError),
                opened.connections.transaction("fail on purpose") as conn,
            ):
                conn.execute("SELECT 1/0")
            with pytest.raises(RuntimeError), opened.connections.session("raise on purpose"):
                raise RuntimeError("boom")
        assert opened.data_version() == 0
        assert opened.connections.open_connections() <= connections.POOL_SIZE
    finally:
        opened.close()


@pytest.mark.postgres
def test_when_every_connection_is_busy_a_caller_waits_then_gets_a_clear_error(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contextlib import ExitStack

    monkeypatch.setattr(connections, "POOL_WAIT_SECONDS", 0.2)
    opened = open_store(pg_url)
    assert isinstance(opened, PostgresStore)
    try:
        with ExitStack() as held:
            for _ in range(connections.POOL_SIZE):
                held.enter_context(opened.connections.connection("hold"))
            with pytest.raises(StoreError, match=r"connections .*busy"):
                opened.data_version()
        assert opened.data_version() == 0  # released: usable again
    finally:
        opened.close()


@pytest.mark.postgres
def test_a_connection_whose_setup_fails_is_closed(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    made: list[Any] = []
    real_connect = psycopg.connect

    def connect_then_break(*args: Any, **kwargs: Any) -> Any:
        conn = real_connect(*args, **kwargs)
        made.append(conn)
        original = conn.execute

        def execute(query: Any, *rest: Any, **kw: Any) -> Any:
            if query == "SET work_mem = '64MB'":
                raise psycopg.OperationalError("setup failed on purpose")
            return original(query, *rest, **kw)

        conn.execute = execute
        return conn

    monkeypatch.setattr(psycopg, "connect", connect_then_break)
    with pytest.raises(StoreError, match="setup failed on purpose"):
        open_store(pg_url)
    assert made
    assert all(conn.closed for conn in made)


@pytest.mark.postgres
def test_a_returned_connection_goes_to_the_oldest_waiter(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg_pool hands a returned connection to the first waiter: the thread that
    gave it back cannot take it again ahead of one already waiting (which starved an
    ingest behind busy readers with threading.Semaphore)."""
    import threading

    monkeypatch.setattr(connections, "POOL_SIZE", 1)
    opened = open_store(pg_url)
    assert isinstance(opened, PostgresStore)
    pool = opened.connections
    order: list[str] = []
    try:
        with pool.connection("hold"):

            def wait_then_note() -> None:
                with pool.connection("wait"):
                    order.append("waiter")

            waiter = threading.Thread(target=wait_then_note)
            waiter.start()
            deadline = time.monotonic() + 5
            while pool.waiting() == 0 and time.monotonic() < deadline:
                time.sleep(0.001)
            assert pool.waiting() == 1
        with pool.connection("again"):  # released just above: the waiter comes first
            order.append("releaser")
        waiter.join(5)
        assert order == ["waiter", "releaser"]
        assert pool.open_connections() == 1
    finally:
        opened.close()


@pytest.mark.postgres
def test_a_writer_is_not_starved_by_readers_that_keep_the_pool_busy(pg_url: str) -> None:
    import threading

    opened = open_store(pg_url)
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            opened.data_version()

    readers = [threading.Thread(target=reader) for _ in range(2 * connections.POOL_SIZE)]
    try:
        for thread in readers:
            thread.start()
        started = time.monotonic()
        opened.apply_ingest(IngestBatch(files={"status": "x.csv"}))
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        for thread in readers:
            thread.join()
        opened.close()


def _at_once(calls: list[Callable[[], object]]) -> list[BaseException]:
    """Run the calls on one thread each, released together; the errors they raised."""
    import threading

    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            call()
        except BaseException as error:  # pragma: no cover - returned to the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.postgres
def test_concurrent_ingests_of_overlapping_new_ids_give_every_id_one_code(
    pg_url: str, tables: type[Tables]
) -> None:
    start = datetime(2023, 1, 20, tzinfo=UTC)
    stores = [open_store(pg_url), open_store(pg_url)]  # two pools: two sessions at once
    expected: set[tuple[str, datetime, bool]] = set()
    try:
        for round_ in range(3):
            ids = [f"r{round_}-{i:04d}" for i in range(3_000)]
            # Both batches hold the 1 500 ids in the middle (same polls) plus their own ids.
            halves = [ids[:2_250], ids[750:]]
            batches = []
            for half in halves:
                rows = [
                    (store_id, start + timedelta(hours=round_, minutes=k), k % 2 == 0)
                    for store_id in half
                    for k in range(3)
                ]
                expected.update(rows)
                batches.append(IngestBatch(polls=tables.polls(rows)))
            calls = [
                functools.partial(store.apply_ingest, batch)
                for store, batch in zip(stores, batches, strict=True)
            ]
            assert _at_once(calls) == []
        [row] = stores[0].execute_sql(
            "SELECT count(*), count(DISTINCT store_id), count(DISTINCT code), min(code),"
            " max(code) FROM stores"
        )
        assert row == (9_000, 9_000, 9_000, 0, 8_999)  # one code per id, no gaps
        counts = stores[0].counts()
        assert (counts["stores"], counts["polls"]) == (9_000, len(expected))
        polls = stores[1].report_inputs(None).polls
        text = polls.column("store_id").cast(pa.string()).to_pylist()
        got = set(
            zip(
                text,
                polls.column("timestamp_utc").to_pylist(),
                polls.column("active").to_pylist(),
                strict=True,
            )
        )
        assert got == expected
    finally:
        for store in stores:
            store.close()


@pytest.mark.postgres
def test_two_servers_claiming_at_once_never_take_the_same_job(pg_url: str) -> None:
    from storemon.store import JobRecord

    stores = [open_store(pg_url), open_store(pg_url)]  # two pools: two servers
    try:
        created = datetime(2024, 1, 1, tzinfo=UTC)
        for index in range(60):
            stores[0].insert_job(
                JobRecord(
                    id=f"job-{index:02d}",
                    status="queued",
                    interpolation="nearest",
                    as_of_requested=None,
                    data_version=1,
                    created_at=created + timedelta(seconds=index),
                )
            )
        taken: dict[str, list[str]] = {"a": [], "b": []}
        now = datetime.now(UTC)

        def claim_all(owner: str, store: Any) -> None:
            while batch := store.claim_jobs(
                owner, now=now, lease_until=now + timedelta(minutes=1), limit=3
            ):
                taken[owner].extend(job.id for job in batch)

        calls = [
            functools.partial(claim_all, owner, store)
            for owner, store in zip(("a", "b"), stores, strict=True)
        ]
        assert _at_once(calls) == []
        assert not set(taken["a"]) & set(taken["b"])
        assert sorted(taken["a"] + taken["b"]) == [f"job-{index:02d}" for index in range(60)]
        owners = {job.id: job.lease_owner for job in stores[0].unfinished_jobs()}
        assert all(owners[job_id] == owner for owner in taken for job_id in taken[owner])
    finally:
        for store in stores:
            store.close()


@pytest.mark.postgres
def test_reads_survive_the_server_dropping_every_pooled_connection(
    pg_admin_url: str, pg_url: str, tables: type[Tables]
) -> None:
    opened = open_store(pg_url)
    assert isinstance(opened, PostgresStore)
    try:
        opened.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
        from contextlib import ExitStack

        with ExitStack() as held:  # every slot opened, then idle in the pool
            for _ in range(connections.POOL_SIZE):
                held.enter_context(opened.connections.connection("hold"))
        assert opened.connections.open_connections() == connections.POOL_SIZE
        for read in (
            opened.data_version,
            opened.counts,
            opened.latest_poll_utc,
            lambda: opened.report_inputs(None),
            opened.list_jobs,
            opened.job_counts,
            opened.rejects,
        ):
            terminate_sessions(pg_admin_url, pg_url)  # every pooled connection is stale now
            read()  # retried once on a fresh connection: no StoreError
        assert opened.counts()["polls"] == 1
    finally:
        opened.close()


@pytest.mark.postgres
def test_a_lost_server_is_a_store_error_whose_public_text_names_no_url(
    pg_admin_url: str, pg_url: str
) -> None:
    opened = open_store(pg_url)
    try:
        opened.data_version()
        terminate_sessions(pg_admin_url, pg_url, refuse_new=True)
        with pytest.raises(StoreError) as caught:
            opened.data_version()
    finally:
        opened.close()
    name = pg_url.rsplit("/", 1)[1]
    assert name in str(caught.value)  # the whole story, for the log and the CLI
    for secret in (name, "127.0.0.1", "5432", "postgres@", "postgresql://"):
        assert secret not in caught.value.public
    assert caught.value.public.startswith("cannot read the data version")


@pytest.fixture
def missing_pg_url(pg_admin_url: str) -> Iterator[str]:
    """The URL of a database that does not exist (dropped afterwards if a test made it)."""
    import uuid

    import psycopg
    from psycopg import sql

    name = f"storemon_test_missing_{uuid.uuid4().hex[:8]}"
    yield pg_admin_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _exists(pg_admin_url: str, url: str) -> bool:
    import psycopg

    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [url.rsplit("/", 1)[1]]
        ).fetchone()
    return row is not None


@pytest.mark.postgres
def test_a_missing_database_is_named_with_the_command_that_creates_it(
    pg_admin_url: str, missing_pg_url: str
) -> None:
    name = missing_pg_url.rsplit("/", 1)[1]
    with pytest.raises(StoreError) as caught:
        open_store(missing_pg_url, create=False)
    message = str(caught.value)
    assert f'PostgreSQL database "{name}" does not exist' in message
    assert (
        f"`createdb --host=127.0.0.1 --port=5432 --username=postgres --encoding=UTF8"
        f" --template=template0 {name}`" in message
    )
    assert name not in caught.value.public
    assert not _exists(pg_admin_url, missing_pg_url)  # nothing was created


@pytest.mark.postgres
def test_a_missing_database_is_created_when_asked(
    pg_admin_url: str, missing_pg_url: str, tables: type[Tables]
) -> None:
    import threading

    stores: list[Any] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            stores.append(open_store(missing_pg_url))  # create=True, the default
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(2)]  # two at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert _exists(pg_admin_url, missing_pg_url)
        stores[0].apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
        assert stores[1].counts()["polls"] == 1
        assert stores[0].schema_version() == SCHEMA_VERSION
        [(encoding,)] = stores[0].execute_sql("SHOW server_encoding")
        assert encoding == "UTF8"
    finally:
        for store in stores:
            store.close()
    open_store(missing_pg_url, create=False).close()  # it exists now
