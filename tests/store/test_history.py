"""History that keeps growing (issue 10 item 4): each store's last poll before a window
is found however far back it lies, without reading all history; PostgreSQL's weekly
partitions are created by the ingest that needs them, read only where a report looks,
and an existing database is converted by migration 5."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pytest

from storemon.store import IngestBatch, Store, migrations, open_store
from storemon.store.base import lookback_cutoff
from storemon.store.retention import parse_older_than, prune

if TYPE_CHECKING:
    from conftest import Tables

T0 = datetime(2023, 1, 2, 6, 0, tzinfo=UTC)  # a Monday


def _shapes() -> list[tuple[str, datetime, bool]]:
    """Stores whose last poll before a window lies near, far, or nowhere: polling every
    3 h throughout; stopped for good after a week; silent for 10 and for 25 days; new in
    the last week; one poll only, long ago; polling only every 9 days."""
    rows: list[tuple[str, datetime, bool]] = []

    def every(store_id: str, start: timedelta, stop: timedelta, step: timedelta) -> None:
        at, i = T0 + start, 0
        while at < T0 + stop:
            rows.append((store_id, at, i % 3 != 0))
            at, i = at + step, i + 1

    day = timedelta(days=1)
    every("steady", 0 * day, 42 * day, timedelta(hours=3))
    every("stopped", 0 * day, 7 * day, timedelta(hours=5))
    every("gap10", 0 * day, 12 * day, timedelta(hours=4))
    every("gap10", 22 * day, 42 * day, timedelta(hours=4))
    every("gap25", 0 * day, 6 * day, timedelta(hours=6))
    every("gap25", 31 * day, 42 * day, timedelta(hours=6))
    every("new", 36 * day, 42 * day, timedelta(hours=2))
    rows.append(("once", T0 + timedelta(hours=7), False))
    every("sparse", 1 * day, 42 * day, 9 * day)
    return rows


def _expected(
    polls: list[tuple[str, datetime, bool]], as_of: datetime, lookback: timedelta
) -> list[tuple[str, datetime, bool]]:
    cutoff = lookback_cutoff(as_of, lookback)
    window = [row for row in polls if cutoff < row[1] <= as_of]
    last: dict[str, tuple[str, datetime, bool]] = {}
    for row in sorted(polls, key=lambda row: row[1]):
        if row[1] <= cutoff:
            last[row[0]] = row
    return sorted(window + list(last.values()))


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    text = table.set_column(0, "store_id", table.column("store_id").cast(pa.string()))
    return sorted(tuple(row.values()) for row in text.to_pylist())


def test_the_last_poll_before_is_found_however_far_back(store: Store, tables: type[Tables]) -> None:
    polls = _shapes()
    # In pieces, out of time order (a late file of old polls), one status changed later.
    store.apply_ingest(IngestBatch(polls=tables.polls(polls[1::2])))
    store.apply_ingest(IngestBatch(polls=tables.polls(polls[::2])))
    flipped = [(s, at, not active) for s, at, active in polls if s == "gap25"][-1:]
    store.apply_ingest(IngestBatch(polls=tables.polls(flipped)))
    polls = [row for row in polls if row[:2] != flipped[0][:2]] + flipped
    days = [3, 8.5, 13, 20, 26, 30, 33.25, 37, 41.9, 42]
    for lookback in (timedelta(days=7), timedelta(hours=1), timedelta(days=30)):
        for day in days:
            as_of = T0 + timedelta(days=day)
            got = _rows(store.report_inputs(as_of, lookback=lookback).polls)
            assert got == _expected(polls, as_of, lookback), (lookback, day)
    # And after a prune, for windows after the cut.
    assert prune(store, parse_older_than("20d")) is not None
    for day in (35, 41.9):
        as_of = T0 + timedelta(days=day)
        assert _rows(store.report_inputs(as_of).polls) == _expected(polls, as_of, timedelta(7))


def _partitions(store: Store) -> list[str]:
    return [
        str(row[0])
        for row in store.execute_sql(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'polls'::regclass ORDER BY 1"
        )
    ]


@pytest.mark.postgres
def test_an_ingest_creates_the_partitions_of_its_weeks(pg_url: str, tables: type[Tables]) -> None:
    store = open_store(pg_url)
    try:
        assert _partitions(store) == []
        store.apply_ingest(
            IngestBatch(polls=tables.polls([("s", "2023-01-22 23:59:59", True)]))  # a Sunday
        )
        assert _partitions(store) == ["polls_w20230116"]
        # A new week, a far-off typo of a year, and the year 1: one partition each.
        batch = [
            ("s", "2023-01-23 00:00:00", False),
            ("s", "2203-01-25 10:00:00", True),
            ("t", "0001-01-01 00:00:00", True),
        ]
        store.apply_ingest(IngestBatch(polls=tables.polls(batch)))
        assert _partitions(store) == [
            "polls_w00010101",
            "polls_w20230116",
            "polls_w20230123",
            "polls_w22030124",
        ]
        assert store.counts()["polls"] == 4
        # The primary key holds across ingests: last write wins.
        store.apply_ingest(IngestBatch(polls=tables.polls([("s", "2023-01-23 00:00:00", True)])))
        rows = store.execute_sql(
            "SELECT active FROM polls WHERE timestamp_utc = '2023-01-23 00:00:00+00'"
        )
        assert rows == [(True,)]
        # After a prune, old polls go into the kept partition, not a new weekly one.
        assert prune(store, parse_older_than("1w")) is not None
        store.apply_ingest(IngestBatch(polls=tables.polls([("u", "2001-05-05 00:00:00", True)])))
        assert "polls_w20010430" not in _partitions(store)
        assert "polls_kept" in _partitions(store)
    finally:
        store.close()


@pytest.mark.postgres
def test_an_ingest_of_too_many_new_weeks_is_refused_whole(
    pg_url: str, tables: type[Tables]
) -> None:
    from storemon.errors import StoreError
    from storemon.store.postgres import partitions

    store = open_store(pg_url)
    try:
        weeks = [
            ("s", T0 + timedelta(weeks=i), True) for i in range(partitions.MAX_NEW_PARTITIONS + 1)
        ]
        with pytest.raises(StoreError, match="more than the 520 one ingest may create"):
            store.apply_ingest(IngestBatch(polls=tables.polls(weeks)))
        assert _partitions(store) == []
        assert store.counts()["polls"] == 0
    finally:
        store.close()


def _plan_relations(store: Store, sql: str) -> list[str]:
    (plan,) = store.execute_sql("EXPLAIN (FORMAT JSON) " + sql)[0]
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            found.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    return found


@pytest.mark.postgres
def test_a_report_reads_only_the_partitions_of_its_window(
    pg_url: str, tables: type[Tables]
) -> None:
    store = open_store(pg_url)
    try:
        store.apply_ingest(IngestBatch(polls=tables.polls(_shapes())))
        assert len(_partitions(store)) == 7
        window = (
            "SELECT store_code, timestamp_utc, active FROM polls"
            " WHERE timestamp_utc > '2023-02-01 00:00:00+00'"
            " AND timestamp_utc <= '2023-02-08 00:00:00+00'"
        )
        assert sorted(_plan_relations(store, window)) == ["polls_w20230130", "polls_w20230206"]
        # The last poll before: newest partition first, in order (an ordered Append, not a
        # Merge Append over every partition), so LIMIT 1 stops at the first that has one.
        last = (
            "SELECT s.code, last.timestamp_utc FROM stores s CROSS JOIN LATERAL"
            " (SELECT timestamp_utc FROM polls WHERE store_code = s.code"
            " AND timestamp_utc <= '2023-02-01 00:00:00+00'"
            " ORDER BY timestamp_utc DESC LIMIT 1) AS last"
        )
        plan = "\n".join(str(row[0]) for row in store.execute_sql("EXPLAIN " + last))
        assert "Merge Append" not in plan
        assert "Scan Backward using polls_w20230130_pkey" in plan
        scans = [line for line in plan.splitlines() if "Scan Backward" in line]
        assert "polls_w20230130" in scans[0]
        assert "polls_w20230206" not in plan  # after the cutoff: pruned
    finally:
        store.close()


@pytest.mark.postgres
def test_reports_read_on_while_an_ingest_adds_a_week_partition(
    pg_url: str, tables: type[Tables]
) -> None:
    """An ingest creates and attaches the partition of a new week inside its transaction
    (SHARE UPDATE EXCLUSIVE on ``polls``); a report's read, planned over every
    partition, must not wait for that transaction to end."""
    import threading

    import psycopg

    from storemon.store.postgres.partitions import create_for, weeks_of

    store = open_store(pg_url)
    try:
        store.apply_ingest(IngestBatch(polls=tables.polls(_shapes())))
        as_of = T0 + timedelta(days=41)
        expected = _rows(store.report_inputs(as_of).polls)
        next_week = T0 + timedelta(weeks=8)
        us = np.array([int(next_week.timestamp() * 1_000_000)], np.int64)
        with psycopg.connect(pg_url) as ingest:  # a transaction left open
            created = create_for(ingest, weeks_of(us))
            assert [name for name, _, _ in created] == ["polls_w20230227"]
            read: list[object] = []
            reader = threading.Thread(
                target=lambda: read.append(_rows(store.report_inputs(as_of).polls)),
                daemon=True,
            )
            reader.start()
            reader.join(timeout=20)
            waited = reader.is_alive()
            ingest.rollback()
            reader.join(timeout=20)
        assert not waited, "the report waited for the ingest's transaction"
        assert read == [expected]
        assert "polls_w20230227" not in _partitions(store)  # rolled back with the ingest
    finally:
        store.close()


@pytest.mark.postgres
def test_migration_5_partitions_a_populated_version_4_database(
    pg_url: str, tables: type[Tables]
) -> None:
    polls = _shapes()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(migrations, "POSTGRES", migrations.POSTGRES[:4])
        old = open_store(pg_url)
        try:
            assert old.schema_version() == 4
            # The ingest code is the new one (it attaches partitions): fill by SQL.
            ids = sorted({store_id for store_id, _, _ in polls})
            for code, store_id in enumerate(ids):
                old.execute_sql("INSERT INTO stores VALUES (%s, %s)", [code, store_id])
            values = ", ".join(
                f"({ids.index(store_id)}, '{at.isoformat()}', {str(active).lower()})"
                for store_id, at, active in polls
            )
            old.execute_sql(f"INSERT INTO polls VALUES {values}")
            assert old.execute_sql(
                "SELECT relkind::text FROM pg_class WHERE relname = 'polls'"
            ) == [("r",)]
            version = old.data_version()
        finally:
            old.close()

    store = open_store(pg_url)
    try:
        assert store.schema_version() == migrations.SCHEMA_VERSION == 6
        assert store.execute_sql("SELECT relkind::text FROM pg_class WHERE relname = 'polls'") == [
            ("p",)
        ]
        weeks = sorted(
            {(at - timedelta(days=at.weekday())).strftime("%Y%m%d") for _, at, _ in polls}
        )
        assert _partitions(store) == [f"polls_w{week}" for week in weeks]
        assert store.counts()["polls"] == len(polls)
        assert store.data_version() == version
        everything = store.report_inputs(T0 + timedelta(days=50), lookback=timedelta(days=367))
        assert _rows(everything.polls) == sorted(polls)
        for day in (8.5, 26, 42):
            as_of = T0 + timedelta(days=day)
            assert _rows(store.report_inputs(as_of).polls) == _expected(polls, as_of, timedelta(7))
        indexes = store.execute_sql(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'polls' ORDER BY indexname"
        )
        assert indexes == [("polls_pkey",), ("polls_timestamp_utc_brin",)]
        assert store.execute_sql("SELECT to_regclass('polls_v4')") == [(None,)]
        # Ingest goes on: a re-ingest writes nothing, a new week gets its partition.
        store.apply_ingest(IngestBatch(polls=tables.polls(polls)))
        assert store.counts()["polls"] == len(polls)
        store.apply_ingest(
            IngestBatch(polls=tables.polls([("new", T0 + timedelta(days=60), True)]))
        )
        assert "polls_w20230227" in _partitions(store)
    finally:
        store.close()
