"""One store's window as a chart needs it: business hours, polls, state, outages, gaps.

Built from the same steps as the report (state segments, business intervals, their
overlap, the observation tiling), for the inputs of one store. Instants are UTC; pieces
bounded by a ``nearest`` midpoint can fall on half a microsecond, so spans are exact
half-microseconds (``_hus``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from storemon.engine.observed import observation
from storemon.engine.options import DEFAULT_OBSERVED_WITHIN_MINUTES, MINUTE_US, Window
from storemon.engine.outages import WEEK, outages, state_overlap
from storemon.engine.run import Chunk, measure_chunks, only_store
from storemon.engine.states import state_segments
from storemon.engine.zones import to_datetime
from storemon.errors import UnknownStore
from storemon.schema import Interpolation


@dataclass(frozen=True)
class Spans:
    """Disjoint spans ``[start_hus, end_hus)`` in time order, with a flag each."""

    start_hus: NDArray[np.int64]
    end_hus: NDArray[np.int64]
    flag: NDArray[np.bool_]


@dataclass(frozen=True)
class Timeline:
    """Everything about one store in ``[start_us, end_us)``, ``end_us`` being the as_of."""

    store_id: str
    as_of: datetime
    window: Window
    start_us: int
    end_us: int
    zone: str  # the zone its local times are in (America/Chicago when it has none)
    business: Spans  # business intervals (flag: always True)
    poll_us: NDArray[np.int64]  # polls in [start, as_of] with their state
    poll_active: NDArray[np.bool_]
    states: Spans  # the interpolated state over the whole window (flag: active)
    outages: Spans  # flag: ongoing (reaches as_of)
    unobserved: Spans  # time further than observed_within from every poll (flag: True)


@dataclass(frozen=True)
class _Parts:
    zone: str
    business: Spans
    poll_us: NDArray[np.int64]
    poll_active: NDArray[np.bool_]
    states: Spans
    outages: Spans
    unobserved: Spans


def _runs(
    start: NDArray[np.int64], end: NDArray[np.int64], flag: NDArray[np.bool_], lo: int, hi: int
) -> Spans:
    """Touching spans with the same flag joined, clipped to ``[lo, hi)``; empty ones dropped."""
    start, end = np.clip(start, lo, hi), np.clip(end, lo, hi)
    keep = end > start
    start, end, flag = start[keep], end[keep], flag[keep]
    if len(start) == 0:
        return Spans(start, end, flag)
    new = np.concatenate(([True], (start[1:] != end[:-1]) | (flag[1:] != flag[:-1])))
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(start) - 1)
    return Spans(start[first], end[last], flag[first])


def store_timeline(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    *,
    store_id: str,
    as_of: datetime | None = None,
    interpolation: Interpolation = "nearest",
    window: Window = WEEK,
    observed_within_us: int = DEFAULT_OBSERVED_WITHIN_MINUTES * MINUTE_US,
) -> Timeline:
    """The timeline of ``store_id`` (other stores' rows are ignored).

    Raises :class:`~storemon.errors.UnknownStore` when it has no poll at or before as_of.
    """
    polls, as_of = only_store(polls, store_id, as_of)

    def measure(chunk: Chunk) -> _Parts:
        lo, hi = 2 * chunk.lo_us, 2 * chunk.hi_us
        arrays = chunk.polls
        found = outages(state_overlap(chunk, interpolation))
        segments = state_segments(arrays, interpolation)
        seen = observation(arrays, interpolation, observed_within_us)
        seen_end = np.append(seen.start_hus[1:], hi)
        gaps = _runs(seen.start_hus, seen_end, seen.unobserved, lo, hi)
        in_window = (arrays.time_us >= chunk.lo_us) & (arrays.time_us <= chunk.hi_us)
        zone = chunk.index.zone_days.zones[int(chunk.index.zone_of_store[chunk.first])]
        intervals = chunk.intervals
        return _Parts(
            zone=zone.key,
            business=Spans(
                2 * intervals.start_us, 2 * intervals.end_us, np.ones(len(intervals.store), bool)
            ),
            poll_us=arrays.time_us[in_window],
            poll_active=arrays.active[in_window],
            states=_runs(segments.start_hus, segments.end_hus, segments.active, lo, hi),
            outages=Spans(found.start_hus, found.end_hus, found.end_hus == hi),
            unobserved=Spans(
                gaps.start_hus[gaps.flag], gaps.end_hus[gaps.flag], gaps.flag[gaps.flag]
            ),
        )

    measured = measure_chunks(
        polls,
        hours,
        timezones,
        measure,
        as_of=as_of,
        span_us=window.length_us,
        interpolation=interpolation,
        workers=1,
        every_zone=True,
    )
    if measured is None:
        raise UnknownStore(store_id)
    (parts,) = measured.results
    return Timeline(
        store_id=store_id,
        as_of=to_datetime(measured.as_of_us),
        window=window,
        start_us=measured.as_of_us - window.length_us,
        end_us=measured.as_of_us,
        zone=parts.zone,
        business=parts.business,
        poll_us=parts.poll_us,
        poll_active=parts.poll_active,
        states=parts.states,
        outages=parts.outages,
        unobserved=parts.unobserved,
    )


__all__ = ["Spans", "Timeline", "store_timeline"]
