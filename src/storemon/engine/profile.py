"""The downtime profile (SPEC Part 2): business time by local weekday x hour, fleet-wide.

Each store's business intervals inside the window are cut where its local wall-clock hour
changes (:class:`storemon.engine.zones.LocalHours`); each piece goes to the bucket
``weekday * 24 + hour`` of its local time, and the state overlap gives its active part
(``F(end) - F(start)``, :meth:`storemon.engine.overlap.Overlap.flagged_before`). Sums are
exact integers (half-microseconds); a profile of several chunks or partitions is the sum
of theirs (:func:`add_profiles`), because every store lies in exactly one of them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from storemon.engine.csvout import table_csv
from storemon.engine.hours import BusinessIntervals
from storemon.engine.options import HOUR_US, Window
from storemon.engine.outages import WEEK, state_overlap
from storemon.engine.overlap import Overlap
from storemon.engine.run import CHUNK_ROWS, DEFAULT_WORKERS, Chunk, measure_chunks
from storemon.engine.zones import LocalHours, to_datetime
from storemon.schema import Interpolation

BUCKETS: Final = 7 * 24


@dataclass(frozen=True)
class ProfileTotals:
    """Per bucket (0 = Monday 00 ... 167 = Sunday 23): stores open, business and active hus."""

    stores_open: NDArray[np.int64]
    business_hus: NDArray[np.int64]
    active_hus: NDArray[np.int64]

    @property
    def inactive_hus(self) -> NDArray[np.int64]:
        return self.business_hus - self.active_hus


def empty_profile() -> ProfileTotals:
    zeros = np.zeros(BUCKETS, dtype=np.int64)
    return ProfileTotals(zeros, zeros.copy(), zeros.copy())


def add_profiles(parts: list[ProfileTotals]) -> ProfileTotals:
    """The profile of disjoint sets of stores together."""
    total = empty_profile()
    for part in parts:
        total = ProfileTotals(
            total.stores_open + part.stores_open,
            total.business_hus + part.business_hus,
            total.active_hus + part.active_hus,
        )
    return total


def profile_totals(
    state: Overlap,
    intervals: BusinessIntervals,
    zone_of_store: NDArray[np.int64],
    hours: LocalHours,
    window_start_us: int,
) -> ProfileTotals:
    """The profile of one chunk: its business intervals from ``window_start_us`` on, by bucket.

    ``zone_of_store`` gives each chunk store's zone code in ``hours``; ``state`` is the
    chunk's state overlap (first flag ``active``) over a range containing the window.
    """
    start = np.maximum(intervals.start_us, window_start_us)
    keep = intervals.end_us > start
    store = intervals.store[keep]
    row, piece_start, piece_end, bucket = hours.split(
        zone_of_store[store], start[keep], intervals.end_us[keep]
    )
    owner = store[row]
    business = 2 * (piece_end - piece_start)
    (before_start,) = state.flagged_before(state.keys(owner, piece_start))
    (before_end,) = state.flagged_before(state.keys(owner, piece_end))
    business_by_bucket = np.zeros(BUCKETS, dtype=np.int64)
    np.add.at(business_by_bucket, bucket, business)
    active_by_bucket = np.zeros(BUCKETS, dtype=np.int64)
    np.add.at(active_by_bucket, bucket, before_end - before_start)
    pairs = np.unique(owner * BUCKETS + bucket)
    stores_open = np.bincount(pairs % BUCKETS, minlength=BUCKETS).astype(np.int64)
    return ProfileTotals(stores_open, business_by_bucket, active_by_bucket)


PROFILE_COLUMNS: Final = (
    "day_of_week",
    "hour",
    "stores_open",
    "business_hours",
    "uptime_hours",
    "downtime_hours",
)


@dataclass(frozen=True)
class Profile:
    """The fleet's downtime profile for one window: exact totals by bucket, and the as_of used."""

    totals: ProfileTotals
    as_of: datetime | None  # None when no poll is at or before as_of
    window: Window

    def table(self) -> pa.Table:
        """168 rows, Monday 00 first: SPEC's profile columns, hours rounded half up."""
        bucket = np.arange(BUCKETS, dtype=np.int64)
        totals = self.totals
        return pa.table(
            {
                "day_of_week": bucket // 24,
                "hour": bucket % 24,
                "stores_open": totals.stores_open,
                "business_hours": _hours(totals.business_hus),
                "uptime_hours": _hours(totals.active_hus),
                "downtime_hours": _hours(totals.inactive_hus),
            }
        )


def _hours(duration_hus: NDArray[np.int64]) -> NDArray[np.float64]:
    unit = 2 * HOUR_US
    rounded: NDArray[np.float64] = ((duration_hus * 100 + unit // 2) // unit) / 100
    return rounded


def compute_profile(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    *,
    as_of: datetime | None = None,
    interpolation: Interpolation = "nearest",
    window: Window = WEEK,
    workers: int = DEFAULT_WORKERS,
    chunk_rows: int = CHUNK_ROWS,
) -> Profile:
    """SPEC's downtime profile of one window over every store with a poll at or before as_of."""
    built: list[LocalHours] = []
    lock = threading.Lock()

    def measure(chunk: Chunk) -> ProfileTotals:
        index = chunk.index
        with lock:  # the run's zones are known once its index is: their hours, built once
            if not built:
                built.append(LocalHours(index.zone_days.zones, chunk.lo_us, chunk.hi_us))
        local = built[0]
        zones = index.zone_of_store[chunk.first : chunk.first + chunk.n_stores]
        return profile_totals(
            state_overlap(chunk, interpolation), chunk.intervals, zones, local, chunk.lo_us
        )

    measured = measure_chunks(
        polls,
        hours,
        timezones,
        measure,
        as_of=as_of,
        span_us=window.length_us,
        interpolation=interpolation,
        workers=workers,
        chunk_rows=chunk_rows,
        every_zone=True,
    )
    if measured is None:
        return Profile(empty_profile(), None, window)
    return Profile(add_profiles(measured.results), to_datetime(measured.as_of_us), window)


def profile_csv(profile: Profile) -> bytes:
    """SPEC's profile CSV: 168 rows, hours with two decimals."""
    return table_csv(profile.table())


__all__ = [
    "BUCKETS",
    "PROFILE_COLUMNS",
    "Profile",
    "ProfileTotals",
    "add_profiles",
    "compute_profile",
    "empty_profile",
    "profile_csv",
    "profile_totals",
]
