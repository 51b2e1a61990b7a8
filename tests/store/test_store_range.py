"""report_inputs of some stores only: one store, or a range of ids (a partition), both backends."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pyarrow.compute as pc
import pytest

from storemon.engine import compute_report, report_csv
from storemon.store import Store, StoreRange
from storemon.store.base import IngestBatch

IDS = ["a", "a\u0000b", "a0", "b", "b/c", "é", "0042", "42", "x y"]


@pytest.fixture
def filled(store: Store, tables: Any) -> Store:
    ids = [i for i in IDS if "\u0000" not in i]  # PostgreSQL text holds no NUL
    polls = [(i, f"2023-01-{d:02d} 12:00", d % 2 == 0) for i in ids for d in range(1, 20, 3)]
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(polls),
            hours=tables.hours([(i, 0, "09:00", "17:00") for i in ids[::2]]),
            timezones=tables.timezones([(i, "Europe/Paris") for i in ids[1::2]]),
        )
    )
    return store


def _ids(table: Any) -> list[str]:
    return sorted(set(pc.cast(table.column("store_id"), "string").to_pylist()))


def test_one_store(filled: Store) -> None:
    inputs = filled.report_inputs(None, lookback=timedelta(days=3), stores=StoreRange.one("b/c"))
    assert _ids(inputs.polls) == ["b/c"]
    assert _ids(inputs.hours) == []
    assert _ids(inputs.timezones) == ["b/c"]
    whole = filled.report_inputs(None, lookback=timedelta(days=3))
    assert inputs.as_of == whole.as_of  # the fleet's latest poll, not the store's
    assert (
        inputs.polls.num_rows
        == pc.sum(pc.equal(pc.cast(whole.polls.column("store_id"), "string"), "b/c")).as_py()
    )
    none = filled.report_inputs(None, stores=StoreRange.one("nope"))
    assert none.polls.num_rows == 0


def test_ranges_partition_the_report(filled: Store) -> None:
    whole = filled.report_inputs(None, lookback=timedelta(days=7))
    full = report_csv(compute_report(whole.polls, whole.hours, whole.timezones).table)
    cuts = [None, "42", "a0", "b/c", None]
    parts = []
    for first, stop in itertools.pairwise(cuts):
        inputs = filled.report_inputs(
            None, lookback=timedelta(days=7), stores=StoreRange(first, stop)
        )
        got = report_csv(
            compute_report(inputs.polls, inputs.hours, inputs.timezones, as_of=whole.as_of).table
        )
        parts.append(got.split(b"\n", 1)[1])
    assert full.split(b"\n", 1)[0] + b"\n" + b"".join(parts) == full
