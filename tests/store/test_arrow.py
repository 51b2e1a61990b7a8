"""Arrow helpers of both stores: last-row-wins de-duplication, dictionary-coded polls."""

from __future__ import annotations

import random
import tracemalloc
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from storemon.errors import StoreError
from storemon.store.arrow import CODED_POLLS, coded_polls, last_per_key


def _reference(rows: list[tuple[object, ...]], width: int) -> list[tuple[object, ...]]:
    last: dict[tuple[object, ...], tuple[object, ...]] = {}
    for row in rows:
        last[row[:width]] = row
    return sorted(last.values(), key=lambda row: row[:width])  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(5))
def test_last_per_key_matches_a_dict_reference(seed: int) -> None:
    rng = random.Random(seed)
    base = datetime(2023, 1, 1, tzinfo=UTC)
    ids = ["a", "b", "B", "ä", "a0", "0042", "42", ""]
    rows = [
        (rng.choice(ids), base + timedelta(seconds=rng.randrange(20)), row)
        for row in range(rng.randrange(0, 300))
    ]
    table = pa.table(
        {
            "store_id": pa.array([r[0] for r in rows], pa.string()),
            "timestamp_utc": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
            "n": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    got = [
        tuple(row.values())
        for row in last_per_key(table, ["store_id", "timestamp_utc"]).to_pylist()
    ]
    expected = sorted(_reference(rows, 2), key=lambda r: (str(r[0]).encode(), r[1]))
    assert got == expected
    by_store = [tuple(row.values()) for row in last_per_key(table, ["store_id"]).to_pylist()]
    assert by_store == sorted(_reference(rows, 1), key=lambda r: str(r[0]).encode())


def test_last_per_key_with_keys_too_wide_to_pack() -> None:
    big = 2**62
    table = pa.table(
        {"k": pa.array([big, -big, big, 0, -big], pa.int64()), "n": pa.array([0, 1, 2, 3, 4])}
    )
    assert last_per_key(table, ["k", "k"]).to_pylist() == [
        {"k": -big, "n": 4},
        {"k": 0, "n": 3},
        {"k": big, "n": 2},
    ]


def _coded_inputs(
    codes: list[int], stores: list[tuple[int, str]], chunks: int = 1
) -> tuple[pa.Table, pa.Table]:
    at = datetime(2023, 1, 23, tzinfo=UTC)
    rows = pa.table(
        {
            "store_code": pa.array(codes, pa.int32()),
            "timestamp_utc": pa.array(
                [at + timedelta(minutes=i) for i in range(len(codes))], pa.timestamp("us")
            ),
            "active": [i % 2 == 0 for i in range(len(codes))],
        }
    )
    if chunks > 1:  # as a database hands them over: several record batches
        size = -(-len(codes) // chunks)
        rows = pa.Table.from_batches(rows.to_batches(max_chunksize=size))
    table = pa.table(
        {
            "code": pa.array([code for code, _ in stores], pa.int32()),
            "store_id": [store_id for _, store_id in stores],
        }
    )
    return rows, table


@pytest.mark.parametrize("chunks", [1, 3])
def test_coded_polls_with_dense_codes_keeps_them_as_indices(chunks: int) -> None:
    stores = [(2, "b"), (0, "0042"), (1, "42")]  # any order
    rows, table = _coded_inputs([2, 0, 1, 2, 0], stores, chunks)
    polls = coded_polls(rows, table)
    assert polls.schema == CODED_POLLS
    column = polls.column("store_id").combine_chunks()
    assert column.dictionary.to_pylist() == ["0042", "42", "b"]  # ordered by code
    assert column.indices.to_pylist() == [2, 0, 1, 2, 0]
    assert column.cast(pa.string()).to_pylist() == ["b", "0042", "42", "b", "0042"]
    assert polls.column("active").to_pylist() == [True, False, True, False, True]
    assert (
        polls.column("timestamp_utc").to_pylist()
        == rows.column("timestamp_utc").cast(pa.timestamp("us", tz="UTC")).to_pylist()
    )


def test_coded_polls_maps_codes_with_gaps_to_dictionary_positions() -> None:
    stores = [(70, "z"), (3, "a,b"), (12, "ünï €")]
    rows, table = _coded_inputs([12, 70, 3, 3, 70], stores)
    polls = coded_polls(rows, table)
    column = polls.column("store_id").combine_chunks()
    assert column.dictionary.to_pylist() == ["a,b", "ünï €", "z"]
    assert column.indices.to_pylist() == [1, 2, 0, 0, 2]
    assert column.cast(pa.string()).to_pylist() == ["ünï €", "z", "a,b", "a,b", "z"]


def test_coded_polls_without_rows_still_has_the_dictionary_type() -> None:
    rows, table = _coded_inputs([], [(0, "a")])
    polls = coded_polls(rows, table)
    assert polls.schema == CODED_POLLS
    assert polls.num_rows == 0


def test_coded_polls_with_a_wide_gap_in_the_codes_needs_no_table_of_every_code() -> None:
    top = 2**25  # a lookup array indexed by code would take 128 MiB
    stores = [(top, "z"), (0, "a"), (7, "b")]
    rows, table = _coded_inputs([top, 0, 7, top], stores)
    tracemalloc.start()
    try:
        polls = coded_polls(rows, table)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    column = polls.column("store_id").combine_chunks()
    assert column.dictionary.to_pylist() == ["a", "b", "z"]
    assert column.cast(pa.string()).to_pylist() == ["z", "a", "b", "z"]


@pytest.mark.parametrize(
    ("codes", "stores"),
    [
        ([0, 5], [(0, "a"), (1, "b")]),  # above the highest code
        ([0, 2], [(0, "a"), (1, "b"), (3, "d")]),  # in a gap
        ([-1], [(0, "a")]),
        ([0], []),
    ],
)
def test_coded_polls_refuses_a_code_that_is_not_in_stores(
    codes: list[int], stores: list[tuple[int, str]]
) -> None:
    rows, table = _coded_inputs(codes, stores)
    with pytest.raises(StoreError, match="not in stores"):
        coded_polls(rows, table)
