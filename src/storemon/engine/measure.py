"""Business ∩ state ∩ window, measured exactly in half-microseconds, per store.

The totals of the report: a reduction of the overlap of the state segments with the
business intervals (:mod:`storemon.engine.overlap`). Per store, ``A(t)`` is the active time
before ``t``; a store's active business time in a window is the sum over its intervals,
clipped to the window, of ``A(end) - A(start)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from storemon.engine.hours import BusinessIntervals
from storemon.engine.overlap import Overlap
from storemon.engine.polls import PollArrays
from storemon.engine.states import StateSegments, state_segments
from storemon.schema import Interpolation

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


def join_totals(parts: list[list[WindowTotals]], n_windows: int) -> list[WindowTotals]:
    """Per-chunk totals (chunks in store order) as one array per window."""
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
    return join_totals(parts, len(window_starts_us))


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
    return join_totals(parts, len(window_starts_us))


def chunk_totals(
    segments: StateSegments,
    intervals: BusinessIntervals,
    n_stores: int,
    window_starts_us: Sequence[int],
    end_us: int,
) -> list[WindowTotals]:
    """:func:`window_totals` of one chunk: stores ``0..n_stores-1``, all measured at once
    (the :class:`~storemon.engine.overlap.Overlap` of its state segments and intervals)."""
    state = Overlap(
        segments.store,
        segments.start_hus,
        (segments.active,),
        intervals,
        n_stores,
        min(window_starts_us),
        end_us,
    )
    return [
        WindowTotals(total.business_hus, total.flagged_hus[0])
        for total in state.totals(window_starts_us)
    ]
