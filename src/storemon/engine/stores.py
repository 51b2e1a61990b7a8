"""Store ids → dense integer indices, numbered in byte (code point) order."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
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


#: Fewest rows per slice worth encoding on its own thread.
MIN_SLICE_ROWS = 65_536
#: Rows per block of a full-size pass: the block's temporaries stay in the CPU caches.
BLOCK_ROWS = 1 << 16

#: Rows of store codes: row i of the segment is store ``rank[codes[i]]``.
CodedRows: TypeAlias = "tuple[NDArray[np.int64], NDArray[Any]]"


#: A run of rows: (dictionary, codes of each chunk, dictionary entry -> index into the
#: dictionary given, or None when they are the same).
Slice: TypeAlias = "tuple[pa.Array[Any], list[NDArray[Any]], NDArray[np.int64] | None]"


def _used(codes: NDArray[Any], size: int) -> NDArray[np.bool_]:
    """Which of ``size`` dictionary entries the codes refer to, block by block of rows
    (numpy indexes with int64: per block, the converted codes stay in the CPU caches)."""
    used = np.zeros(size, dtype=bool)
    for a in range(0, len(codes), BLOCK_ROWS):  # per block of rows
        used[codes[a : a + BLOCK_ROWS]] = True
    return used


def _slices(column: Column, workers: int) -> list[Slice]:
    """Consecutive runs of rows as (dictionary, codes of each chunk, remap), in row order.

    A dictionary-typed column is used as is (no re-hashing of the strings): the ids no
    row refers to (a database's dictionary holds every store it knows) are dropped from
    the dictionary and ``remap`` maps the codes to the entries left, without touching
    the rows. A string column is dictionary-encoded in ``workers`` slices at once
    (pyarrow releases the GIL).
    """
    if pa.types.is_dictionary(column.type):
        array = _as_array(column)  # chunks with different dictionaries are unified here
        assert isinstance(array, pa.DictionaryArray)
        dictionary = array.dictionary.cast(pa.string())
        codes = array.indices.to_numpy(zero_copy_only=False)
        if len(codes) == 0:
            return []
        used = _used(codes, len(dictionary))
        if used.all():
            return [(dictionary, [codes], None)]
        # Entries before the first used one map to 0 as well: no row looks them up.
        remap = np.maximum(np.cumsum(used, dtype=np.int64) - 1, 0)
        return [(dictionary.filter(pa.array(used)), [codes], remap)]
    n = len(column)
    workers = max(1, min(workers, n // MIN_SLICE_ROWS))  # small inputs: one slice
    bounds = [k * n // workers for k in range(workers + 1)]
    slices = [column.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            encoded = list(pool.map(pc.dictionary_encode, slices))
    else:
        encoded = [pc.dictionary_encode(slices[0])]
    result: list[Slice] = []
    for one in encoded:  # per slice: its chunks share one dictionary
        chunks = one.chunks if isinstance(one, pa.ChunkedArray) else [one]
        if not chunks:
            continue
        coded = [cast("pa.DictionaryArray[Any, Any]", chunk) for chunk in chunks]
        codes_list = [chunk.indices.to_numpy(zero_copy_only=False) for chunk in coded]
        result.append((coded[0].dictionary.cast(pa.string()), codes_list, None))
    return result


def encode_store_codes(column: Column, workers: int = 1) -> tuple[pa.Array[Any], list[CodedRows]]:
    """The distinct ids sorted in byte order, and the rows as (rank, codes) segments.

    Row i of a segment is store ``rank[codes[i]]``; the segments follow the row order.
    The codes stay in their compact integer type (no full-size int64 copy).
    """
    slices = _slices(column, workers)
    if not slices:
        return pa.array([], pa.string()), []
    if len(slices) == 1:
        store_ids = slices[0][0]
        positions = [np.arange(len(store_ids), dtype=np.int64)]
    else:  # unify the slices' dictionaries (small: one entry per store and slice)
        both = pc.dictionary_encode(pa.concat_arrays([d for d, _, _ in slices]))
        assert isinstance(both, pa.DictionaryArray)
        store_ids = both.dictionary
        indices = np.asarray(both.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        bounds = np.cumsum([0] + [len(d) for d, _, _ in slices])
        positions = [indices[a:b] for a, b in itertools.pairwise(bounds)]
    order = np.asarray(pc.sort_indices(store_ids).to_numpy(), dtype=np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order), dtype=np.int64)
    segments = [
        (rank[position] if remap is None else rank[position][remap], codes)
        for position, (_, codes_list, remap) in zip(positions, slices, strict=True)
        for codes in codes_list
    ]
    return store_ids.take(order), segments


def encode_store_ids(column: Column) -> tuple[pa.Array[Any], NDArray[np.int64]]:
    """The distinct ids sorted in byte order, and each row's index into them."""
    store_ids, segments = encode_store_codes(column)
    if not segments:
        return store_ids, np.empty(0, dtype=np.int64)
    return store_ids, np.concatenate([rank[codes] for rank, codes in segments])


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
