"""Store ids → dense integer indices, numbered in byte (code point) order."""

from __future__ import annotations

from typing import Any, TypeAlias, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

#: A pyarrow column, whole or in chunks.
Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"


def _as_array(column: Column) -> pa.Array[Any]:
    if isinstance(column, pa.ChunkedArray):
        whole = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        return cast("pa.Array[Any]", whole)
    array: pa.Array[Any] = column
    return array


def encode_store_codes(
    column: Column,
) -> tuple[pa.Array[Any], NDArray[np.int64], NDArray[Any]]:
    """The distinct ids sorted in byte order, ``rank`` and per-row ``codes``: row i is
    store ``rank[codes[i]]``. The codes stay in their compact integer type (no full-size
    int64 copy); a dictionary-typed column is used as is (no re-hashing of the strings).
    """
    array = _as_array(column)
    given = pa.types.is_dictionary(array.type)
    if not given:
        array = pc.dictionary_encode(array)
    assert isinstance(array, pa.DictionaryArray)
    dictionary = array.dictionary.cast(pa.string())
    codes: NDArray[Any] = array.indices.to_numpy(zero_copy_only=False)
    used_first: NDArray[np.int64] | None = None
    if given:  # a reused dictionary may hold ids no row refers to
        used = np.zeros(len(dictionary), dtype=bool)
        used[codes] = True
        if not used.all():
            dictionary = dictionary.take(np.flatnonzero(used))
            used_first = np.cumsum(used, dtype=np.int64) - 1
    order = np.asarray(pc.sort_indices(dictionary).to_numpy(), dtype=np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order), dtype=np.int64)
    if used_first is not None:
        rank = rank[np.maximum(used_first, 0)]
    return dictionary.take(order), rank, codes


def encode_store_ids(column: Column) -> tuple[pa.Array[Any], NDArray[np.int64]]:
    """The distinct ids sorted in byte order, and each row's index into them."""
    store_ids, rank, codes = encode_store_codes(column)
    return store_ids, rank[codes]


def lookup_store_ids(store_ids: pa.Array[Any], column: Column) -> NDArray[np.int64]:
    """Each row's index into ``store_ids`` (from :func:`encode_store_ids`), -1 when absent."""
    array = _as_array(column)
    if pa.types.is_dictionary(array.type):
        array = array.cast(pa.string())
    found = pc.index_in(array, value_set=store_ids).fill_null(-1)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def last_per_store(store: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For rows mapped to stores (-1 = none): the stores that occur and each one's last row."""
    rows = np.flatnonzero(store >= 0)
    if len(rows) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    reversed_rows = rows[::-1]
    stores, first_in_reversed = np.unique(store[reversed_rows], return_index=True)
    return stores.astype(np.int64), reversed_rows[first_in_reversed].astype(np.int64)
