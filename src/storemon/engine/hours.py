"""Business hours → merged UTC intervals per store, clipped to a range of instants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from storemon.engine.stores import lookup_store_ids
from storemon.engine.zones import ZoneDays, epoch_day, store_zones
from storemon.errors import ComputeError
from storemon.schema import US_PER_DAY

#: An end time at or after 23:59:00 means midnight at the end of the start's date.
END_OF_DAY_FROM_US = (23 * 60 + 59) * 60 * 1_000_000
_INT63 = 1 << 62


@dataclass(frozen=True)
class BusinessIntervals:
    """Disjoint ``[start_us, end_us)`` UTC intervals sorted by (store, start)."""

    store: NDArray[np.int64]
    start_us: NDArray[np.int64]
    end_us: NDArray[np.int64]


def _column(table: pa.Table, name: str) -> NDArray[np.int64]:
    column = table.column(name)
    return np.asarray(column.to_numpy(), dtype=np.int64)


def segment_walls(
    day_of_week: NDArray[np.int64],
    start_local_us: NDArray[np.int64],
    end_local_us: NDArray[np.int64],
    first_day: int,
    last_day: int,
) -> tuple[
    NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]
]:
    """Hours rows x the local dates in ``[first_day, last_day]`` with their weekday.

    Returns (row, start day, start time, end day, end time): wall clocks, times in [0, 24 h).
    The 23:59 rule applies first, then ``end <= start`` crosses midnight.
    """
    days = np.arange(first_day, last_day + 1, dtype=np.int64)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    width = -(-len(days) // 7)
    by_weekday = np.zeros((7, width), dtype=np.int64)
    filled = np.zeros((7, width), dtype=bool)  # (days before 1970 are negative: no sentinel)
    for w in range(7):
        these = days[weekday == w]
        by_weekday[w, : len(these)] = these
        filled[w, : len(these)] = True
    valid_row = (day_of_week >= 0) & (day_of_week <= 6)
    rows = np.flatnonzero(valid_row)
    grid = by_weekday[day_of_week[rows]]  # rows x width dates
    has = filled[day_of_week[rows]]
    row = np.repeat(rows, has.sum(axis=1))
    day = grid[has]
    start = start_local_us[row]
    end = end_local_us[row]
    end = np.where(end >= END_OF_DAY_FROM_US, US_PER_DAY, end)
    crosses = end <= start
    start_day = day + start // US_PER_DAY
    end_day = day + crosses + end // US_PER_DAY
    return row, start_day, start % US_PER_DAY, end_day, end % US_PER_DAY


def merge_intervals(
    store: NDArray[np.int64],
    start_us: NDArray[np.int64],
    end_us: NDArray[np.int64],
    lo_us: int,
    hi_us: int,
) -> BusinessIntervals:
    """Clip to ``[lo_us, hi_us]``, drop empty ones, merge overlapping or touching ones per store."""
    start_us = np.clip(start_us, lo_us, hi_us)
    end_us = np.clip(end_us, lo_us, hi_us)
    keep = end_us > start_us
    store, start_us, end_us = store[keep], start_us[keep], end_us[keep]
    if len(store) == 0:
        return BusinessIntervals(store, start_us, end_us)
    span = hi_us - lo_us + 1
    if (int(store.max()) + 1) * span >= _INT63:
        raise ComputeError(
            f"{int(store.max()) + 1} stores over {hi_us - lo_us} µs do not fit the engine's "
            "63-bit keys in one chunk: lower chunk_rows"
        )
    start_key = store * span + (start_us - lo_us)
    order = np.argsort(start_key)
    start_key = start_key[order]
    end_key = (store * span + (end_us - lo_us))[order]
    # Keys of one store lie above every key of an earlier store, so a global running
    # maximum of the ends restarts at each store by itself.
    reach = np.maximum.accumulate(end_key)
    new = np.concatenate(([True], start_key[1:] > reach[:-1]))
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:] - 1, [len(start_key) - 1]))
    merged_store = start_key[first] // span
    return BusinessIntervals(
        merged_store,
        start_key[first] - merged_store * span + lo_us,
        reach[last] - merged_store * span + lo_us,
    )


@dataclass(frozen=True)
class HoursIndex:
    """Hours and zones prepared once for a numbered set of stores and a range of instants.

    :func:`chunk_intervals` then builds the business intervals of any range of stores
    (stores are independent), so a run can be split by stores and its chunks run apart.
    """

    store: NDArray[np.int64]  # hours rows of known stores, sorted by store
    day_of_week: NDArray[np.int64]
    start_local_us: NDArray[np.int64]
    end_local_us: NDArray[np.int64]
    has_hours: NDArray[np.bool_]  # per store
    zone_of_store: NDArray[np.int64]  # per store, into zone_days.zones
    zone_days: ZoneDays
    first_day: int  # local dates expanded
    last_day: int
    start_us: int
    end_us: int


def hours_index(
    hours: pa.Table,
    timezones: pa.Table,
    store_ids: pa.Array[Any],
    start_us: int,
    end_us: int,
    *,
    every_zone: bool = False,
) -> HoursIndex:
    """Look up the stores of the hours and timezone rows; one zone table for the range.

    A store without hours is open 24x7, so its zone does not change its business intervals:
    only with ``every_zone`` (the profile needs each store's local time) is it looked up.
    """
    n_stores = len(store_ids)
    hours_store = lookup_store_ids(store_ids, hours.column("store_id"))
    known = hours_store >= 0
    has_hours = np.zeros(n_stores, dtype=bool)
    has_hours[hours_store[known]] = True

    tz_store = lookup_store_ids(store_ids, timezones.column("store_id"))
    if not every_zone:
        tz_store = np.where((tz_store >= 0) & has_hours[np.maximum(tz_store, 0)], tz_store, -1)
    zones, zone_of_store = store_zones(timezones.column("timezone_str"), tz_store, n_stores)

    rows = np.flatnonzero(known)
    rows = rows[np.argsort(hours_store[rows])]  # row order within a store is irrelevant
    # Local dates whose segments can reach the range: zones lie within UTC-12..UTC+14 and
    # a segment ends at most two local dates after its start.
    first_day = epoch_day(start_us) - 3
    last_day = epoch_day(end_us) + 1
    return HoursIndex(
        hours_store[rows],
        _column(hours, "day_of_week")[rows],
        _column(hours, "start_local_us")[rows],
        _column(hours, "end_local_us")[rows],
        has_hours,
        zone_of_store,
        ZoneDays(zones, first_day, last_day + 2),
        first_day,
        last_day,
        start_us,
        end_us,
    )


def chunk_intervals(index: HoursIndex, first: int, stop: int) -> BusinessIntervals:
    """The business intervals of stores ``first..stop-1``, numbered from 0 (store - first)."""
    lo, hi = np.searchsorted(index.store, [first, stop])
    row, start_day, start_tod, end_day, end_tod = segment_walls(
        index.day_of_week[lo:hi],
        index.start_local_us[lo:hi],
        index.end_local_us[lo:hi],
        index.first_day,
        index.last_day,
    )
    store = index.store[lo:hi][row] - first
    zone = index.zone_of_store[first:stop][store]
    n = len(row)
    utc = index.zone_days.to_utc_us(
        np.concatenate((zone, zone)),
        np.concatenate((start_day, end_day)),
        np.concatenate((start_tod, end_tod)),
    )
    open_all_week = np.flatnonzero(~index.has_hours[first:stop])
    start_us, end_us = index.start_us, index.end_us
    all_store = np.concatenate((store, open_all_week))
    all_start = np.concatenate((utc[:n], np.full(len(open_all_week), start_us, dtype=np.int64)))
    all_end = np.concatenate((utc[n:], np.full(len(open_all_week), end_us, dtype=np.int64)))
    return merge_intervals(all_store, all_start, all_end, start_us, end_us)


def business_intervals(
    hours: pa.Table,
    timezones: pa.Table,
    store_ids: pa.Array[Any],
    start_us: int,
    end_us: int,
) -> BusinessIntervals:
    """Each store's business time within ``[start_us, end_us)`` as merged UTC intervals.

    ``store_ids`` (sorted, from :func:`~storemon.engine.stores.encode_store_ids`) numbers the
    stores; rows for other stores are ignored. A store without hours rows is open 24x7; a
    store without a (known) zone uses ``America/Chicago``.
    """
    n_stores = len(store_ids)
    if n_stores == 0:
        none = np.zeros(0, dtype=np.int64)
        return BusinessIntervals(none, none, none)
    index = hours_index(hours, timezones, store_ids, start_us, end_us)
    return chunk_intervals(index, 0, n_stores)
