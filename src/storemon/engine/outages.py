"""Outages (SPEC Part 2): maximal stretches inside business hours in state ``inactive``.

They are read off the overlap of the state segments with the business intervals
(:meth:`storemon.engine.overlap.Overlap.runs`): runs of inactive state segments (two
inactive polls in a row are one run) cut to the business intervals. Business intervals
that touch are already one interval, so an outage runs across midnight when the hours
do, and closed time ends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon.engine.csvout import hundredths_text, lines, text_field
from storemon.engine.options import DEFAULT_WINDOWS, MINUTE_US, Window
from storemon.engine.overlap import Overlap
from storemon.engine.run import CHUNK_ROWS, DEFAULT_WORKERS, Chunk, measure_chunks, only_store
from storemon.engine.states import state_segments
from storemon.engine.zones import to_datetime
from storemon.errors import UnknownStore
from storemon.schema import Interpolation


@dataclass(frozen=True)
class Outages:
    """One row per outage within the overlap's range, sorted by (store, start); hus."""

    store: NDArray[np.int64]
    start_hus: NDArray[np.int64]
    end_hus: NDArray[np.int64]


@dataclass(frozen=True)
class OutageTotals:
    """Per store, within one window: outages overlapping it and the longest part inside (hus)."""

    count: NDArray[np.int64]
    longest_hus: NDArray[np.int64]


def outages(state: Overlap) -> Outages:
    """The outages of every store of an overlap whose first flag is ``active``."""
    down = state.runs(0, False)
    return Outages(down.store, down.start_hus, down.end_hus)


def clipped(found: Outages, start_us: int) -> Outages:
    """The outages overlapping ``[start_us, …)``, cut to start there (ends are within range)."""
    start = np.maximum(found.start_hus, 2 * start_us)
    keep = found.end_hus > start
    return Outages(found.store[keep], start[keep], found.end_hus[keep])


def outage_totals(
    found: Outages, n_stores: int, window_starts_us: Sequence[int]
) -> list[OutageTotals]:
    """For each window ``[start, hi)``: the number of outages overlapping it and the longest
    part of one inside it, per store."""
    out = []
    for start_us in window_starts_us:
        inside = clipped(found, start_us)
        count = np.bincount(inside.store, minlength=n_stores).astype(np.int64)
        longest = np.zeros(n_stores, dtype=np.int64)
        np.maximum.at(longest, inside.store, inside.end_hus - inside.start_hus)
        out.append(OutageTotals(count, longest))
    return out


__all__ = ["OutageTotals", "Outages", "clipped", "outage_totals", "outages"]


# -- the outage list -----------------------------------------------------------------------
WEEK: Final = DEFAULT_WINDOWS[-1]
OUTAGE_COLUMNS: Final = ("store_id", "start_utc", "end_utc", "duration_minutes", "ongoing")
#: The outage list as the engine returns it: exact instants in half-microseconds.
_OUTAGE_FIELDS: list[pa.Field[Any]] = [
    pa.field("store_id", pa.string(), nullable=False),
    pa.field("start_hus", pa.int64(), nullable=False),
    pa.field("end_hus", pa.int64(), nullable=False),
    pa.field("ongoing", pa.bool_(), nullable=False),
]
OUTAGES: Final = pa.schema(_OUTAGE_FIELDS)


@dataclass(frozen=True)
class OutageList:
    """Every outage overlapping the window, clipped to it, by store id (byte order) then start."""

    table: pa.Table  # OUTAGES
    as_of: datetime | None  # None when no poll is at or before as_of
    window: Window


def state_overlap(chunk: Chunk, interpolation: Interpolation) -> Overlap:
    """The overlap of a chunk's state segments with its business intervals (flag: active)."""
    segments = state_segments(chunk.polls, interpolation)
    return Overlap(
        segments.store,
        segments.start_hus,
        (segments.active,),
        chunk.intervals,
        chunk.n_stores,
        chunk.lo_us,
        chunk.hi_us,
    )


def compute_outages(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    *,
    as_of: datetime | None = None,
    interpolation: Interpolation = "nearest",
    window: Window = WEEK,
    store_id: str | None = None,
    workers: int = DEFAULT_WORKERS,
    chunk_rows: int = CHUNK_ROWS,
) -> OutageList:
    """SPEC's outage list of one window for all stores, or for ``store_id`` only.

    Raises :class:`~storemon.errors.UnknownStore` when ``store_id`` has no poll at or before
    ``as_of`` (the report would not list it).
    """
    if store_id is not None:
        polls, as_of = only_store(polls, store_id, as_of)

    def measure(chunk: Chunk) -> Outages:
        found = outages(state_overlap(chunk, interpolation))
        return Outages(found.store + chunk.first, found.start_hus, found.end_hus)

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
    )
    if measured is None:
        if store_id is not None:
            raise UnknownStore(store_id)
        return OutageList(OUTAGES.empty_table(), None, window)
    parts = measured.results
    store = np.concatenate([part.store for part in parts])
    end = np.concatenate([part.end_hus for part in parts])
    table = pa.table(
        {
            "store_id": measured.store_ids.take(pa.array(store)),
            "start_hus": np.concatenate([part.start_hus for part in parts]),
            "end_hus": end,
            "ongoing": end == 2 * measured.as_of_us,
        },
        schema=OUTAGES,
    )
    return OutageList(table, to_datetime(measured.as_of_us), window)


def _seconds(hus: pa.ChunkedArray[Any]) -> NDArray[np.int64]:
    """Half-microseconds to whole seconds, rounded to the nearest (a half up)."""
    values = np.asarray(hus.to_numpy(), dtype=np.int64)
    return (values + 1_000_000) // 2_000_000


def iso_seconds(seconds: NDArray[np.int64]) -> pa.Array[Any]:
    """Seconds since the epoch as ISO 8601 UTC text (``2023-01-25T17:00:00Z``)."""
    stamps = pa.array(seconds, pa.timestamp("s"))
    return pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ")


def minutes_hundredths(
    start_hus: NDArray[np.int64], end_hus: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Each outage's exact length in hundredths of a minute, rounded half up."""
    unit = 2 * MINUTE_US
    rounded: NDArray[np.int64] = ((end_hus - start_hus) * 100 + unit // 2) // unit
    return rounded


def outages_csv(table: pa.Table) -> bytes:
    """SPEC's outage-list CSV: store_id, start_utc, end_utc, duration_minutes, ongoing."""
    fields = [
        text_field(table.column("store_id")),
        iso_seconds(_seconds(table.column("start_hus"))),
        iso_seconds(_seconds(table.column("end_hus"))),
        hundredths_text(
            minutes_hundredths(
                np.asarray(table.column("start_hus").to_numpy(), dtype=np.int64),
                np.asarray(table.column("end_hus").to_numpy(), dtype=np.int64),
            )
        ),
        pc.if_else(table.column("ongoing").combine_chunks(), "true", "false"),
    ]
    return lines(OUTAGE_COLUMNS, fields)
