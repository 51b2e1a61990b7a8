"""StoreReads: one store's inputs sliced from a snapshot of the fleet's week must be
exactly what the database gives for that store, and must follow every ingest."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from storemon.engine.options import parse_window
from storemon.jobs.views import StoreReads, store_outages
from storemon.store import IngestBatch, Store, StoreRange

if TYPE_CHECKING:
    from conftest import Tables

WEEK_US = parse_window("168h").length_us
IDS = ["0042", "42", "a", "a!", "a0", "a/b", "50%", "ünï €", "日本", "x" * 300]
START = datetime(2023, 1, 10, tzinfo=UTC)


def _load(store: Store, tables: type[Tables]) -> None:
    rng = random.Random(7)
    polls = []
    for i, store_id in enumerate(IDS):
        last_day = 14 if i % 3 else 4  # every third store stopped before the last week
        for hour in range(0, 24 * last_day, 1 + i % 4):
            at = START + timedelta(hours=hour, minutes=rng.randrange(60))
            polls.append((store_id, at, rng.random() > 0.2))
    hours = [(s, d, "09:00", "17:00") for s in IDS[::2] for d in range(5)]
    hours += [("only-hours", 0, "10:00", "12:00")]
    zones = [(s, "Asia/Kathmandu") for s in IDS[1::3]] + [("only-zone", "UTC")]
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(polls), hours=tables.hours(hours), timezones=tables.timezones(zones)
        )
    )


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    if "store_id" in table.column_names and pa.types.is_dictionary(
        table.schema.field("store_id").type
    ):
        table = table.set_column(0, "store_id", table.column("store_id").cast(pa.string()))
    return sorted(tuple(row.values()) for row in table.to_pylist())


def _same(a: Any, b: Any) -> None:
    assert a.as_of == b.as_of
    for name in ("polls", "hours", "timezones"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.schema == right.schema, name
        assert _rows(left) == _rows(right), name


def _spy(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[list[object], Any]:
    seen: list[object] = []
    original = store.report_inputs

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("stores"))
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "report_inputs", spy)
    return seen, original


def _sorted(reads: list[object]) -> list[object]:
    return sorted(reads, key=str)


def test_a_slice_of_the_snapshot_is_what_the_database_reads(
    store: Store, tables: type[Tables]
) -> None:
    _load(store, tables)
    reads = StoreReads()
    reads.inputs(store, "a", None, WEEK_US)  # starts the snapshot beside the request
    reads.wait(30)
    for store_id in [*IDS, "only-hours", "only-zone", "nobody", ""]:
        sliced = reads.inputs(store, store_id, None, WEEK_US)
        direct = store.report_inputs(None, stores=StoreRange.one(store_id))
        _same(sliced, direct)


def test_a_request_reads_its_store_and_the_snapshot_follows_each_ingest(
    store: Store, tables: type[Tables], monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(store, tables)
    seen, _ = _spy(store, monkeypatch)
    reads = StoreReads()
    week = parse_window("168h")
    before = store_outages(
        store, "42", as_of=None, interpolation="nearest", window=week, reads=reads
    )
    reads.wait(30)
    # the request read its one store; the snapshot, built beside it, read the fleet once
    assert _sorted(seen) == _sorted([StoreRange.one("42"), None])
    seen.clear()
    for store_id in IDS:
        reads.inputs(store, store_id, None, WEEK_US)
    assert seen == []  # slices

    latest = before.as_of
    assert latest is not None
    down = [
        ("42", latest + timedelta(minutes=30), False),
        ("42", latest + timedelta(hours=3), False),
    ]
    store.apply_ingest(IngestBatch(polls=tables.polls(down)))
    after = store_outages(
        store, "42", as_of=None, interpolation="nearest", window=week, reads=reads
    )
    reads.wait(30)
    assert _sorted(seen) == _sorted([StoreRange.one("42"), None])  # the new version's
    assert after.as_of == latest + timedelta(hours=3)  # the ingest is seen at once
    assert after.table.num_rows >= 1
    assert after.table.column("ongoing").to_pylist()[-1] is True  # down since the new polls


def test_reads_go_to_the_database_at_an_as_of_for_long_windows_and_big_fleets(
    store: Store, tables: type[Tables], monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(store, tables)
    seen, original = _spy(store, monkeypatch)
    reads = StoreReads()
    at = START + timedelta(days=9)
    _same(reads.inputs(store, "a", at, WEEK_US), original(at, stores=StoreRange.one("a")))
    reads.inputs(store, "a", None, parse_window("30d").length_us)
    assert seen == [StoreRange.one("a"), StoreRange.one("a")]

    seen.clear()
    small = StoreReads(max_polls=10)  # the fleet has more: found out once, then never again
    _same(small.inputs(store, "a", None, WEEK_US), original(None, stores=StoreRange.one("a")))
    small.wait(30)
    store.apply_ingest(IngestBatch(polls=tables.polls([("a", START + timedelta(days=20), True)])))
    for store_id in ("a", "42"):
        direct = original(None, stores=StoreRange.one(store_id))
        _same(small.inputs(store, store_id, None, WEEK_US), direct)
    small.wait(30)
    assert _sorted(seen) == _sorted(
        [StoreRange.one("a"), None, StoreRange.one("a"), StoreRange.one("42")]
    )
