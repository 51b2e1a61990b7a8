"""Store ids → dense indices in byte order, however the column comes (slices, chunks, types)."""

from __future__ import annotations

import itertools
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from storemon.engine import stores
from storemon.engine.stores import encode_store_codes, encode_store_ids

_IDS = st.lists(
    st.sampled_from(["0042", "42", "store-7a", "Ünïcødé-店", "a,b", "Z", "", "s 1"]) | st.text(),
    max_size=40,
)


def _expected(ids: list[str]) -> tuple[list[str], list[int]]:
    distinct = sorted(set(ids), key=lambda s: s.encode())
    return distinct, [distinct.index(i) for i in ids]


def _column(ids: list[str], cuts: list[int], dictionary: bool) -> pa.ChunkedArray:
    bounds = sorted({0, len(ids), *(c % (len(ids) + 1) for c in cuts)})
    chunks = [pa.array(ids[a:b], pa.string()) for a, b in itertools.pairwise(bounds)]
    if dictionary:
        chunks = [pc.dictionary_encode(c) for c in chunks]
    typ = pa.dictionary(pa.int32(), pa.string()) if dictionary else pa.string()
    return pa.chunked_array(chunks, type=typ)


@settings(deadline=None, max_examples=150)
@given(_IDS, st.lists(st.integers(0, 50), max_size=4), st.integers(1, 4), st.booleans())
def test_ids_are_numbered_in_byte_order(
    ids: list[str], cuts: list[int], workers: int, dictionary: bool
) -> None:
    column = _column(ids, cuts, dictionary)
    distinct, index = _expected(ids)
    with mock.patch.object(stores, "MIN_SLICE_ROWS", 1):  # slice even tiny inputs
        store_ids, segments = encode_store_codes(column, workers)
    assert store_ids.to_pylist() == distinct
    rows = [int(rank[c]) for rank, codes in segments for c in codes]
    assert rows == index
    store_ids, store = encode_store_ids(column)
    assert store_ids.to_pylist() == distinct
    assert store.tolist() == index
    assert store.dtype == np.int64


@settings(deadline=None, max_examples=150)
@given(_IDS, st.lists(st.text(max_size=5), max_size=10), st.randoms(use_true_random=False))
def test_dictionary_entries_no_row_uses_are_dropped(
    ids: list[str], extra: list[str], random: object
) -> None:
    """A database's dictionary holds every store it knows, in code order: entries that
    no row refers to are not stores of the report, wherever they sit."""
    entries = sorted(set(ids) | set(extra))
    random.shuffle(entries)  # type: ignore[attr-defined]
    position = {entry: k for k, entry in enumerate(entries)}
    column = pa.DictionaryArray.from_arrays(
        pa.array([position[i] for i in ids], pa.int32()), pa.array(entries, pa.string())
    )
    distinct, index = _expected(ids)
    with mock.patch.object(stores, "BLOCK_ROWS", 2):  # several blocks of rows
        store_ids, segments = encode_store_codes(column)
    assert store_ids.to_pylist() == distinct
    assert [int(rank[c]) for rank, codes in segments for c in codes] == index
