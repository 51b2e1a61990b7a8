"""Business ∩ state ∩ window, measured exactly in half-microseconds, per store.

Per store, ``B(t)`` is the business time before ``t``; it is evaluated for all stores at
once by ``searchsorted`` on a combined (store, time) key. A state segment's active
business time is then ``B(end) - B(start)``; sums run per store over sorted segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from storemon.engine.hours import BusinessIntervals
from storemon.engine.states import StateSegments

_INT63 = 1 << 62


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


def window_totals(
    segments: StateSegments,
    intervals: BusinessIntervals,
    n_stores: int,
    window_starts_us: Sequence[int],
    end_us: int,
) -> list[WindowTotals]:
    """For each window ``[start, end_us)``: business and active time per store.

    Every store in ``0..n_stores-1`` must have at least one segment; ``intervals`` must
    cover the earliest window start to ``end_us``.
    """
    if n_stores == 0:
        none = np.zeros(0, dtype=np.int64)
        return [WindowTotals(none, none) for _ in window_starts_us]
    origin = 2 * min(window_starts_us)
    top = 2 * end_us - origin
    span = top + 1
    assert n_stores * span < _INT63, "too many stores for one run: partition them"
    clock = _BusinessClock(intervals, origin, span)
    store = segments.store
    base = store * span  # start_hus may be MIN_HUS: clip before shifting
    lo = base + (np.clip(segments.start_hus, origin, origin + top) - origin)
    b_lo = clock(lo)
    stores = np.arange(n_stores, dtype=np.int64)
    b_end = clock(stores * span + top)
    last = np.concatenate((store[1:] != store[:-1], [True]))
    b_hi = np.concatenate((b_lo[1:], [0]))
    b_hi[last] = b_end[store[last]]
    active = np.where(segments.active, b_hi - b_lo, 0)
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
