"""Polls → sorted, de-duplicated columns per store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon.engine.stores import Column, encode_store_ids

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


def timestamps_us(column: Column) -> NDArray[np.int64]:
    """A timestamp column as int64 microseconds since the epoch (UTC)."""
    as_us = pc.cast(column, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    if isinstance(as_us, pa.ChunkedArray):
        as_us = as_us.combine_chunks()
    return np.asarray(as_us.to_numpy(zero_copy_only=False), dtype=np.int64)


def _bools(column: Column) -> NDArray[np.bool_]:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=bool)


def prepare_polls(polls: pa.Table, as_of_us: int) -> PollArrays:
    """The polls at or before ``as_of_us``, encoded, sorted by (store, time), de-duplicated."""
    time_us = timestamps_us(polls.column("timestamp_utc"))
    ids = polls.column("store_id")
    active = _bools(polls.column("active"))
    keep = time_us <= as_of_us
    if not keep.all():
        ids = ids.take(np.flatnonzero(keep))
        time_us = time_us[keep]
        active = active[keep]
    store_ids, store = encode_store_ids(ids)
    n_stores = len(store_ids)
    if len(store) == 0:
        empty = np.empty(0, dtype=np.int64)
        return PollArrays(store_ids, empty, empty, np.empty(0, dtype=bool), np.zeros(1, np.int64))
    t_min = int(time_us.min())
    span = int(time_us.max()) - t_min + 1
    bits = (span - 1).bit_length()  # time offsets fit in `bits` bits
    if (n_stores << (bits + 1)) < _INT63:
        # Fast path: one sort of (store, time, state) packed into an int64 carries all three;
        # shifts and masks (not division) unpack it.
        packed = store << (bits + 1)  # with `store`, the only full-size temporaries
        time_bits = time_us - t_min
        time_bits <<= 1
        packed |= time_bits
        del time_bits
        packed |= active
        if len(packed) > 1 and not bool((packed[1:] >= packed[:-1]).all()):
            packed.sort()
        on = packed.astype(np.uint8)  # the low byte
        on &= 1
        packed >>= 1
        if not bool((packed[1:] == packed[:-1]).any()):
            store = packed >> bits
            packed &= (1 << bits) - 1
            packed += t_min
            first = np.searchsorted(store, np.arange(n_stores + 1)).astype(np.int64)
            return PollArrays(store_ids, store, packed, on.view(bool), first)
        # Duplicates of (store, instant): the later row wins, so row order is needed.
        key = (store << bits) | (time_us - t_min)
        order = np.argsort(key)
        key = key[order]
        same = key[1:] == key[:-1]
        starts = np.flatnonzero(np.concatenate(([True], ~same)))
        order = np.maximum.reduceat(order, starts)
    store = store[order]
    first = np.searchsorted(store, np.arange(n_stores + 1)).astype(np.int64)
    return PollArrays(store_ids, store, time_us[order], active[order], first)
