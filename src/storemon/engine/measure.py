"""Business ∩ state ∩ window, measured exactly in half-microseconds, per store.

Per store, ``B(t)`` is the business time before ``t``; it is evaluated for all stores at
once by ``searchsorted`` on a combined (store, time) key. A state segment's active
business time is then ``B(end) - B(start)``; sums run per store over sorted segments.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from storemon.engine.hours import BusinessIntervals
from storemon.engine.polls import PollArrays
from storemon.engine.states import StateSegments, state_segments
from storemon.schema import Interpolation

_INT63 = 1 << 62
#: Segments per measuring pass: big enough to amortize, small enough to stay in cache.
CHUNK_ROWS = 1 << 18


@dataclass(frozen=True)
class WindowTotals:
    """Per store, for a window ``[start, end)``: business time and its active part (half-µs)."""

    business_hus: NDArray[np.int64]
    active_hus: NDArray[np.int64]

    @property
    def inactive_hus(self) -> NDArray[np.int64]:
        return self.business_hus - self.active_hus


class _BusinessClock:
    """``B`` on combined keys ``store * span + (t - origin)`` (t clipped to the range)."""

    def __init__(self, intervals: BusinessIntervals, origin_hus: int, span: int) -> None:
        # A zero-length sentinel below every key makes "the last interval starting at or
        # before the key" always exist.
        starts = np.concatenate(
            ([-1], intervals.store * span + (2 * intervals.start_us - origin_hus))
        )
        lengths = np.concatenate(([0], 2 * (intervals.end_us - intervals.start_us)))
        before = np.cumsum(lengths) - lengths
        self.starts = starts
        self.shift = before - starts  # B(key) = key + shift inside the interval
        self.after = before + lengths  # B past the interval's end

    def __call__(self, key: NDArray[np.int64]) -> NDArray[np.int64]:
        k = np.searchsorted(self.starts, key, side="right") - 1
        business: NDArray[np.int64] = np.minimum(key + self.shift[k], self.after[k])
        return business


def _chunks(
    store: NDArray[np.int64], n_stores: int, interval_store: NDArray[np.int64], chunk_rows: int
) -> Iterator[tuple[int, int, slice, slice]]:
    """Store ranges of about ``chunk_rows`` rows: (first store, stop store, rows, intervals)."""
    cuts = np.unique(np.append(store[::chunk_rows], n_stores))
    if cuts[0] != 0:
        cuts = np.insert(cuts, 0, 0)
    rows = np.searchsorted(store, cuts)
    intervals = np.searchsorted(interval_store, cuts)
    for k in range(len(cuts) - 1):  # one pass per chunk of stores, not per store
        yield (
            int(cuts[k]),
            int(cuts[k + 1]),
            slice(int(rows[k]), int(rows[k + 1])),
            slice(int(intervals[k]), int(intervals[k + 1])),
        )


def _concat(parts: list[list[WindowTotals]], n_windows: int) -> list[WindowTotals]:
    if len(parts) == 1:
        return parts[0]
    return [
        WindowTotals(
            np.concatenate([part[w].business_hus for part in parts]),
            np.concatenate([part[w].active_hus for part in parts]),
        )
        for w in range(n_windows)
    ]


def _slice_intervals(intervals: BusinessIntervals, rows: slice, first: int) -> BusinessIntervals:
    return BusinessIntervals(
        intervals.store[rows] - first, intervals.start_us[rows], intervals.end_us[rows]
    )


def window_totals(
    segments: StateSegments,
    intervals: BusinessIntervals,
    n_stores: int,
    window_starts_us: Sequence[int],
    end_us: int,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> list[WindowTotals]:
    """For each window ``[start, end_us)``: business and active time per store.

    Every store in ``0..n_stores-1`` must have at least one segment; ``intervals`` must
    cover the earliest window start to ``end_us``. Stores are measured in chunks of about
    ``chunk_rows`` segments (stores are independent), which keeps the temporaries small.
    """
    if n_stores == 0:
        none = np.zeros(0, dtype=np.int64)
        return [WindowTotals(none, none) for _ in window_starts_us]
    parts = []
    for first, stop, rows, inter in _chunks(segments.store, n_stores, intervals.store, chunk_rows):
        chunk = StateSegments(
            segments.store[rows] - first,
            segments.start_hus[rows],
            segments.end_hus[rows],
            segments.active[rows],
        )
        chunk_intervals = _slice_intervals(intervals, inter, first)
        parts.append(chunk_totals(chunk, chunk_intervals, stop - first, window_starts_us, end_us))
    return _concat(parts, len(window_starts_us))


def poll_totals(
    polls: PollArrays,
    intervals: BusinessIntervals,
    interpolation: Interpolation,
    window_starts_us: Sequence[int],
    end_us: int,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> list[WindowTotals]:
    """:func:`window_totals` of :func:`state_segments`, built chunk by chunk of stores."""
    n_stores = polls.n_stores
    if n_stores == 0:
        none = np.zeros(0, dtype=np.int64)
        return [WindowTotals(none, none) for _ in window_starts_us]
    parts = []
    for first, stop, rows, inter in _chunks(polls.store, n_stores, intervals.store, chunk_rows):
        chunk = PollArrays(
            polls.store_ids,  # not used by state_segments; kept whole to avoid a copy
            polls.store[rows] - first,
            polls.time_us[rows],
            polls.active[rows],
            polls.first[first : stop + 1] - polls.first[first],
        )
        segments = state_segments(chunk, interpolation)
        chunk_intervals = _slice_intervals(intervals, inter, first)
        parts.append(
            chunk_totals(segments, chunk_intervals, stop - first, window_starts_us, end_us)
        )
    return _concat(parts, len(window_starts_us))


def chunk_totals(
    segments: StateSegments,
    intervals: BusinessIntervals,
    n_stores: int,
    window_starts_us: Sequence[int],
    end_us: int,
) -> list[WindowTotals]:
    """:func:`window_totals` of one chunk: stores ``0..n_stores-1``, all measured at once."""
    origin = 2 * min(window_starts_us)
    top = 2 * end_us - origin
    span = top + 1
    assert n_stores * span < _INT63, "too many stores in one chunk: lower chunk_rows"
    clock = _BusinessClock(intervals, origin, span)
    store = segments.store
    # start_hus may be MIN_HUS: clip before shifting
    lo = np.clip(segments.start_hus, origin, origin + top)
    lo -= origin
    lo += store * span
    b_lo = clock(lo)
    stores = np.arange(n_stores, dtype=np.int64)
    b_end = clock(stores * span + top)
    last = np.append(store[1:] != store[:-1], True)
    b_hi = np.append(b_lo[1:], 0)
    b_hi[last] = b_end[store[last]]
    b_hi -= b_lo
    active = np.where(segments.active, b_hi, 0)
    running = np.cumsum(active)
    last_row = np.flatnonzero(last)
    out = []
    for start_us in window_starts_us:
        x = stores * span + (2 * start_us - origin)
        j = np.searchsorted(lo, x, side="right") - 1
        b_x = clock(x)
        from_x = running[last_row] - running[j] + active[j] - segments.active[j] * (b_x - b_lo[j])
        out.append(WindowTotals(b_end - b_x, from_x))
    return out
