"""The partition boundaries: ``store_splits`` (SQL, both backends) and ``partition_ranges``.

Whatever the ids, the ranges cover every stored store exactly once, in byte order, and
the database selects the same stores for a range as Python's byte comparison does.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storemon.errors import InvalidRequest
from storemon.jobs.partitioned import partition_ranges
from storemon.store import IngestBatch, Store
from storemon.store.base import StoreRange

_TEXT = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
_IDS = st.lists(st.text(_TEXT, min_size=1, max_size=4), min_size=0, max_size=30, unique=True)


def _inside(store_id: str, stores: StoreRange) -> bool:
    key = store_id.encode()
    return (stores.first is None or key >= stores.first.encode()) and (
        stores.stop is None or key < stores.stop.encode()
    )


def _reset(store: Store) -> None:
    for table in ("polls", "stores"):
        store.execute_sql(f"DELETE FROM {table}")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ids=_IDS, parts=st.integers(min_value=1, max_value=9))
def test_ranges_cover_every_store_once_in_byte_order(
    store: Store, tables: Any, ids: list[str], parts: int
) -> None:
    _reset(store)
    if ids:
        store.apply_ingest(
            IngestBatch(polls=tables.polls([(i, "2023-01-25 10:00", True) for i in ids]))
        )
    splits = store.store_splits(parts)
    encoded = [split.encode() for split in splits]
    assert encoded == sorted(set(encoded))
    assert set(splits) <= set(ids)
    ranges = partition_ranges(splits)
    assert len(ranges) == (min(parts, len(ids)) if ids else 1)
    ordered = sorted(ids, key=str.encode)
    chosen = [[i for i in ordered if _inside(i, stores)] for stores in ranges]
    assert [i for part in chosen for i in part] == ordered  # disjoint, covering, in order
    assert all(chosen) or not ids  # no empty range
    for stores, expected in zip(ranges, chosen, strict=True):
        read = store.report_inputs(None, stores=stores).polls.column("store_id")
        assert sorted(read.cast("string").to_pylist(), key=str.encode) == expected


def test_splits_must_ascend_in_byte_order() -> None:
    assert partition_ranges([]) == [StoreRange()]
    assert partition_ranges(["a", "a\x00", "a0"])[1] == StoreRange("a", "a\x00")
    with pytest.raises(InvalidRequest):
        partition_ranges(["b", "a"])
    with pytest.raises(InvalidRequest):
        partition_ranges(["a", "a"])
