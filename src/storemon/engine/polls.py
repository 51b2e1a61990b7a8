"""Polls → sorted, de-duplicated columns per store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon.engine.stores import CodedRows, Column, encode_store_codes

_INT63 = 1 << 62


@dataclass(frozen=True)
class PollArrays:
    """One row per (store, instant), sorted by store then time; the later input row won.

    ``store`` indexes ``store_ids`` (byte order); ``first[s]:first[s + 1]`` are store s's rows.
    """

    store_ids: pa.Array[Any]
    store: NDArray[np.int64]
    time_us: NDArray[np.int64]
    active: NDArray[np.bool_]
    first: NDArray[np.int64]

    @property
    def n_stores(self) -> int:
        return len(self.store_ids)


#: Rows per block when building full-size arrays: the temporaries stay in the CPU caches.
BLOCK_ROWS = 1 << 16


def timestamps_us(column: Column) -> NDArray[np.int64]:
    """A timestamp column as int64 microseconds since the epoch (UTC); no copy when it can."""
    if not pa.types.is_timestamp(column.type) or column.type.unit != "us" or column.null_count:
        column = pc.cast(column, pa.timestamp("us", tz="UTC"))
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [np.asarray(c.view(pa.int64()).to_numpy(), dtype=np.int64) for c in chunks]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _bools(column: Column) -> NDArray[np.bool_]:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=bool)


class SameInstant(Exception):
    """A chunk of packed keys holds two polls of one store at one instant.

    The packed sort cannot tell which input row came later, so the caller sorts
    again with ``sort_polls(..., by_row=True)``, which keeps the later row.
    """


@dataclass(frozen=True)
class PollChunk:
    """The polls of stores ``first..stop-1``; :meth:`arrays` numbers them from 0.

    Holds either the chunk's sorted packed keys (unpacked on demand, so the unpacking
    runs per chunk, on whichever thread measures it) or the arrays themselves.
    """

    first: int
    stop: int
    store_ids: pa.Array[Any]  # the chunk's ids (a slice of all of them)
    packed: NDArray[np.int64] | None  # sorted keys: store << bits + 1 | offset << 1 | state
    ready: PollArrays | None = None  # or the arrays themselves
    bits: int = 0
    t_min: int = 0

    def arrays(self) -> PollArrays:
        """Sorted, de-duplicated columns of this chunk's stores (store index - first).

        Raises :class:`SameInstant` when packed keys hold two polls of one store at one
        instant (checked here, per chunk, while the keys are in the CPU caches).
        """
        if self.ready is not None:
            return self.ready
        assert self.packed is not None
        key = self.packed >> 1
        if bool((key[1:] == key[:-1]).any()):
            raise SameInstant(self.first, self.stop)
        on = self.packed.astype(np.uint8)
        on &= 1
        store = key >> self.bits
        store -= self.first
        key &= (1 << self.bits) - 1
        key += self.t_min
        n = self.stop - self.first
        first = np.searchsorted(store, np.arange(n + 1)).astype(np.int64)
        return PollArrays(self.store_ids, store, key, on.view(bool), first)


def _cuts(store_at: NDArray[np.int64], n_stores: int, max_stores: int) -> NDArray[np.int64]:
    """Store numbers where chunks start (from every k-th row's store, and at least every
    ``max_stores`` stores), 0 and n_stores included."""
    every = np.arange(0, n_stores, max(max_stores, 1), dtype=np.int64)
    return np.unique(np.concatenate(([0], store_at, every, [n_stores]))).astype(np.int64)


def _bounds(cuts: NDArray[np.int64], rows: NDArray[np.int64]) -> list[tuple[int, int, int, int]]:
    """(first store, stop store, first row, stop row) of each chunk."""
    return list(
        zip(
            cuts[:-1].tolist(),
            cuts[1:].tolist(),
            rows[:-1].tolist(),
            rows[1:].tolist(),
            strict=True,
        )
    )


def _pack(
    segments: list[CodedRows],
    time_us: NDArray[np.int64],
    active: NDArray[np.bool_],
    bits: int,
    t_min: int,
) -> NDArray[np.int64]:
    """``(store << bits + 1) | (time - t_min) << 1 | active``, block by block of rows."""
    n = len(time_us)
    packed = np.empty(n, dtype=np.int64)
    tmp = np.empty(min(n, BLOCK_ROWS), dtype=np.int64)
    row = 0
    for rank, codes in segments:  # per run of rows, then per block: temporaries stay small
        for a in range(0, len(codes), BLOCK_ROWS):
            b = min(a + BLOCK_ROWS, len(codes))
            out = packed[row + a : row + b]
            t = tmp[: b - a]
            np.take(rank, codes[a:b], out=out, mode="clip")
            out <<= bits + 1
            np.subtract(time_us[row + a : row + b], t_min, out=t)
            t <<= 1
            out |= t
            out |= active[row + a : row + b]
        row += len(codes)
    return packed


@dataclass(frozen=True)
class EncodedPolls:
    """The polls at or before as_of with their store codes, in input order (not sorted)."""

    store_ids: pa.Array[Any]
    segments: list[CodedRows]
    time_us: NDArray[np.int64]
    active: NDArray[np.bool_]
    t_min: int  # the earliest and latest poll (0 when there are none)
    t_max: int


def _min_max(values: NDArray[np.int64]) -> tuple[int, int]:
    """Both extremes in one pass over memory (block by block)."""
    if len(values) == 0:
        return 0, 0
    lows, highs = [], []
    for a in range(0, len(values), BLOCK_ROWS):  # per block of rows
        block = values[a : a + BLOCK_ROWS]
        lows.append(int(block.min()))
        highs.append(int(block.max()))
    return min(lows), max(highs)


def encode_polls(polls: pa.Table, as_of_us: int | None, workers: int = 1) -> EncodedPolls:
    """Drop polls after ``as_of_us`` (None: keep all) and number the stores (byte order of
    their ids); ``workers`` threads encode the ids."""
    time_us = timestamps_us(polls.column("timestamp_utc"))
    ids = polls.column("store_id")
    active = _bools(polls.column("active"))
    t_min, t_max = _min_max(time_us)
    if as_of_us is not None and len(time_us) and t_max > as_of_us:
        keep = np.flatnonzero(time_us <= as_of_us)
        ids = ids.take(keep)
        time_us = time_us[keep]
        active = active[keep]
        t_min, t_max = _min_max(time_us)
    store_ids, segments = encode_store_codes(ids, workers)
    return EncodedPolls(store_ids, segments, time_us, active, t_min, t_max)


def sort_polls(
    encoded: EncodedPolls,
    chunk_rows: int,
    *,
    by_row: bool = False,
    max_stores: int = 1 << 62,
) -> list[PollChunk]:
    """Sorted by (store, time), in chunks of whole stores of about ``chunk_rows`` polls and at
    most ``max_stores`` stores.

    Fast path: one packed int64 key per poll and its sort are the only full-size work;
    unpacking into arrays happens per chunk (:meth:`PollChunk.arrays`), which raises
    :class:`SameInstant` if two polls of a store share an instant. Then (or when the
    keys are too wide to pack) sort with ``by_row=True``: the rows' order is kept
    through the sort and, of polls of a store at one instant, the later row wins.
    """
    time_us, active, ids = encoded.time_us, encoded.active, encoded.store_ids
    n_stores = len(ids)
    if len(time_us) == 0:
        return []
    t_min = encoded.t_min
    span = encoded.t_max - t_min + 1
    bits = (span - 1).bit_length()  # time offsets fit in `bits` bits
    if not by_row and (n_stores << (bits + 1)) < _INT63:
        # Fast path: one sort of (store, time, state) packed into an int64 carries all three;
        # shifts and masks (not division) unpack it, chunk by chunk.
        packed = _pack(encoded.segments, time_us, active, bits, t_min)
        packed.sort()
        shift = bits + 1
        cuts = _cuts(packed[::chunk_rows] >> shift, n_stores, max_stores)
        rows = np.searchsorted(packed, cuts << shift)
        return [
            PollChunk(f, t, ids[f:t], packed[a:b], None, bits, t_min)
            for f, t, a, b in _bounds(cuts, rows)
        ]
    # Polls of a store at one instant, or keys too wide to pack: the later row wins, so
    # row order is needed.
    store = np.concatenate([rank[codes] for rank, codes in encoded.segments])
    if (n_stores << bits) < _INT63:
        key = (store << bits) | (time_us - t_min)
        order = np.argsort(key)
        key = key[order]
        same = key[1:] == key[:-1]
    else:  # (store, time offset) overflows one int64 (polls decades apart): sort by both
        order = np.lexsort((time_us, store))
        by_store, by_time = store[order], time_us[order]
        same = (by_store[1:] == by_store[:-1]) & (by_time[1:] == by_time[:-1])
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    order = np.maximum.reduceat(order, starts)
    store = store[order]
    time_us = time_us[order]
    active = active[order]
    cuts = _cuts(store[::chunk_rows], n_stores, max_stores)
    rows = np.searchsorted(store, cuts)
    chunks = []
    for f, t, a, b in _bounds(cuts, rows):  # per chunk of stores
        chunk_store = store[a:b] - f
        first = np.searchsorted(chunk_store, np.arange(t - f + 1)).astype(np.int64)
        arrays = PollArrays(ids[f:t], chunk_store, time_us[a:b], active[a:b], first)
        chunks.append(PollChunk(f, t, ids[f:t], None, arrays))
    return chunks


def prepare_polls(polls: pa.Table, as_of_us: int) -> PollArrays:
    """The polls at or before ``as_of_us``, encoded, sorted by (store, time), de-duplicated."""
    encoded = encode_polls(polls, as_of_us)
    chunks = sort_polls(encoded, chunk_rows=max(polls.num_rows, 1))
    try:
        arrays = [chunk.arrays() for chunk in chunks]
    except SameInstant:
        arrays = [c.arrays() for c in sort_polls(encoded, max(polls.num_rows, 1), by_row=True)]
    if not arrays:
        empty = np.empty(0, dtype=np.int64)
        return PollArrays(
            encoded.store_ids, empty, empty, np.empty(0, dtype=bool), np.zeros(1, np.int64)
        )
    (whole,) = arrays
    return whole
