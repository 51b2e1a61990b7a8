"""The overlap of a tiling of time (state segments, observation) with business intervals.

This is the engine's central step: every output reduces it. A *tiling* gives each store
pieces ``[start, next start)`` that cover the whole time line, each with some flags (the
state segments: ``active``; the observation tiling: ``unobserved``...). :class:`Overlap`
intersects one chunk's tiling with its business intervals within ``[lo, hi)``:

- :meth:`Overlap.flagged_before` evaluates ``F(t)``, the time before ``t`` carrying a flag, for
  all stores at once (a running sum over the pieces, found by ``searchsorted`` on a combined
  ``(store, time)`` key); business time carrying a flag within ``[a, b)`` is ``F(b) - F(a)``.
  The report's totals (:meth:`Overlap.totals`) and the profile's buckets use it.
- :meth:`Overlap.pieces` lists the overlap itself, piece by piece (outages, timelines).

Times are half-microseconds (``_hus``): a ``nearest`` boundary is the exact integer
``t_i + t_{i+1}``. Keys are ``store * span + (time - origin)``, so the keys of one store lie
above every key of an earlier store and one sorted array serves all stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from storemon.engine.hours import BusinessIntervals
from storemon.errors import ComputeError

_INT63 = 1 << 62


def max_stores(lo_us: int, hi_us: int) -> int:
    """The most stores one chunk may hold for keys over ``[lo_us, hi_us]`` to fit in int64."""
    return max(1, _INT63 // (2 * (hi_us - lo_us) + 1) - 1)


@dataclass(frozen=True)
class Pieces:
    """Business ∩ tiling, one row per piece, sorted by (store, start); half-microseconds."""

    store: NDArray[np.int64]
    start_hus: NDArray[np.int64]
    end_hus: NDArray[np.int64]
    flags: tuple[NDArray[np.bool_], ...]


@dataclass(frozen=True)
class Totals:
    """Per store, within one window: business time and the part of it carrying each flag (hus)."""

    business_hus: NDArray[np.int64]
    flagged_hus: tuple[NDArray[np.int64], ...]


class Overlap:
    """A chunk's tiling (stores ``0..n_stores-1``) against its business intervals in ``[lo, hi)``.

    ``store`` and ``start_hus`` give the pieces sorted by (store, start) (a store's first piece
    may start at any time at or before ``lo``, e.g. ``MIN_HUS``; equal starts make empty
    pieces); every store in ``0..n_stores-1`` must have a piece. ``flags`` mark pieces.
    ``intervals`` must lie within ``[lo_us, hi_us]``.
    """

    def __init__(
        self,
        store: NDArray[np.int64],
        start_hus: NDArray[np.int64],
        flags: Sequence[NDArray[np.bool_]],
        intervals: BusinessIntervals,
        n_stores: int,
        lo_us: int,
        hi_us: int,
    ) -> None:
        origin = 2 * lo_us
        top = 2 * hi_us - origin
        span = top + 1
        if n_stores * span >= _INT63:
            raise ComputeError(
                f"{n_stores} stores over {hi_us - lo_us} µs do not fit the engine's 63-bit keys "
                "in one chunk: lower chunk_rows"
            )
        self.n_stores = n_stores
        self.origin, self.top, self.span = origin, top, span
        self.intervals = intervals
        self._store = store
        base = store * span
        # start_hus may be MIN_HUS: clip before shifting. Keys are store * span + time.
        lo = np.clip(start_hus, origin, origin + top)
        lo -= origin
        lo += base
        self._start_key = lo
        length = self._ends(base)
        length -= lo  # each piece's length within the range
        self._flags = tuple(flags)
        self._now: list[NDArray[np.int64]] = []
        self._before: list[NDArray[np.int64]] = []
        for k, flag in enumerate(self._flags):
            weighted = length if k == len(self._flags) - 1 else length.copy()
            weighted *= flag
            before = np.cumsum(weighted)
            before -= weighted  # flagged time before each piece's start
            self._before.append(before)
            self._now.append(flag.astype(np.int64))
        self._bounds = np.searchsorted(intervals.store, np.arange(n_stores + 1))
        self._interval_base = intervals.store * span

    def _ends(self, base: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
        """Each piece's end key: the next piece's start, or the range's end for a store's last."""
        store = self._store
        last = np.append(store[1:] != store[:-1], True)
        end = np.append(self._start_key[1:], 0)
        end[last] = (store[last] * self.span if base is None else base[last]) + self.top
        return end

    # -- keys ----------------------------------------------------------------------------
    def keys(self, store: NDArray[np.int64], time_us: NDArray[np.int64]) -> NDArray[np.int64]:
        """Combined keys of instants (µs) of stores, clipped to the range."""
        key = np.clip(2 * time_us - self.origin, 0, self.top)
        key += store * self.span
        return key

    def to_hus(self, key: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(store, time in hus) of combined keys."""
        store = key // self.span
        return store, key - store * self.span + self.origin

    def flagged_before(self, key: NDArray[np.int64]) -> list[NDArray[np.int64]]:
        """For each flag, the flagged time of the key's store before the key's time."""
        j = np.searchsorted(self._start_key, key, side="right") - 1
        offset = key - self._start_key[j]
        out = []
        for before, now in zip(self._before, self._now, strict=True):
            at: NDArray[np.int64] = before[j] + now[j] * offset
            out.append(at)
        return out

    # -- reductions ----------------------------------------------------------------------
    def totals(self, window_starts_us: Sequence[int]) -> list[Totals]:
        """For each window ``[start, hi)``: business time and its flagged parts, per store."""
        intervals = self.intervals
        start = 2 * intervals.start_us - self.origin
        end = 2 * intervals.end_us - self.origin
        out = []
        for start_us in window_starts_us:
            x = 2 * start_us - self.origin
            a = np.clip(start, x, self.top)
            a += self._interval_base
            b = np.clip(end, x, self.top)
            b += self._interval_base
            business = per_store(b - a, self._bounds)
            flagged = tuple(
                per_store(at_b - at_a, self._bounds)
                for at_a, at_b in zip(self.flagged_before(a), self.flagged_before(b), strict=True)
            )
            out.append(Totals(business, flagged))
        return out

    def pieces(self) -> Pieces:
        """The overlap itself: each business interval cut at the tiling's pieces."""
        intervals = self.intervals
        a = self.keys(intervals.store, intervals.start_us)
        b = self.keys(intervals.store, intervals.end_us)
        first = np.searchsorted(self._start_key, a, side="right") - 1
        last = np.searchsorted(self._start_key, b, side="left") - 1
        owner, j = _expand(first, last - first + 1)
        start = np.maximum(self._start_key[j], a[owner])
        end = np.minimum(self._ends()[j], b[owner])
        keep = end > start
        j, start, end = j[keep], start[keep], end[keep]
        store, start_hus = self.to_hus(start)
        end_hus = end - store * self.span + self.origin
        return Pieces(store, start_hus, end_hus, tuple(flag[j] for flag in self._flags))

    def runs(self, k: int, value: bool) -> Pieces:
        """The business parts of the maximal runs of pieces whose flag ``k`` is ``value``.

        Runs are joined across pieces that touch (e.g. two inactive polls in a row); each
        run is cut to the business intervals it meets. Intervals that touch are one
        interval, so the parts are maximal: no two touch. Sparse: only the flagged pieces
        are handled (outages: ``runs(0, False)`` of the state overlap).
        """
        flag = self._flags[k]
        rows = np.flatnonzero(flag if value else ~flag)
        start = self._start_key[rows]
        end = self._ends()[rows]
        new = np.concatenate(([True], start[1:] != end[:-1]))[: len(rows)]
        first = np.flatnonzero(new)
        run_start = start[first]
        run_end = end[np.append(first[1:] - 1, len(rows) - 1)] if len(rows) else end
        intervals = self.intervals
        a = self.keys(intervals.store, intervals.start_us)
        b = self.keys(intervals.store, intervals.end_us)
        lo = np.searchsorted(b, run_start, side="right")  # first interval ending after
        hi = np.searchsorted(a, run_end, side="left")  # intervals starting before the end
        owner, i = _expand(lo, hi - lo)
        part_start = np.maximum(run_start[owner], a[i])
        part_end = np.minimum(run_end[owner], b[i])
        keep = part_end > part_start
        part_start, part_end = part_start[keep], part_end[keep]
        store, start_hus = self.to_hus(part_start)
        end_hus = part_end - store * self.span + self.origin
        values = np.full(len(store), value, dtype=bool)
        return Pieces(store, start_hus, end_hus, tuple(values for _ in self._flags))


def _expand(
    first: NDArray[np.int64], count: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For rows with ``count[r]`` consecutive partners from ``first[r]``: (row, partner) pairs."""
    count = np.maximum(count, 0)
    owner = np.repeat(np.arange(len(first)), count)
    offsets = np.cumsum(count) - count
    return owner, first[owner] + (np.arange(len(owner)) - offsets[owner])


def per_store(values: NDArray[np.int64], bounds: NDArray[np.int64]) -> NDArray[np.int64]:
    """Sums of ``values[bounds[s]:bounds[s + 1]]`` per store s, exact (int64)."""
    running = np.concatenate(([0], np.cumsum(values)))
    total: NDArray[np.int64] = running[bounds[1:]] - running[bounds[:-1]]
    return total


__all__ = ["Overlap", "Pieces", "Totals", "max_stores", "per_store"]
