"""compute_report: the report of SPEC.md, Part 1 and the windows and columns of Part 2."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from storemon.engine.csvout import table_csv
from storemon.engine.observed import observation
from storemon.engine.options import DEFAULT_WINDOWS, ReportOptions, Window
from storemon.engine.outages import OutageTotals, outage_totals, outages
from storemon.engine.overlap import Overlap, Totals
from storemon.engine.run import CHUNK_ROWS, DEFAULT_WORKERS, Chunk, measure_chunks
from storemon.engine.states import state_segments
from storemon.engine.zones import to_datetime
from storemon.schema import REPORT, Interpolation

#: The Part 1 windows as (name, length, unit of the reported number), in microseconds.
WINDOWS: Final = tuple((w.name, w.length_us, w.unit_us) for w in DEFAULT_WINDOWS)

__all__ = [
    "CHUNK_ROWS",
    "DEFAULT_WORKERS",
    "WINDOWS",
    "Report",
    "compute_report",
    "hundredths",
    "report_columns",
    "report_csv",
]


@dataclass(frozen=True)
class Report:
    """A computed report: the table (sorted by store_id) and the as_of used.

    ``stale_store_ids`` are the reported stores with no poll within ``observed_within`` of
    the longest window: every figure of theirs is extrapolated from an older poll.
    """

    table: pa.Table
    as_of: datetime | None  # None when there were no polls at or before as_of
    stale_store_ids: pa.Array[Any] = field(default_factory=lambda: pa.array([], pa.string()))


def hundredths(duration_hus: NDArray[np.int64], unit_us: int) -> NDArray[np.int64]:
    """An exact duration (half-µs) in hundredths of ``unit_us``, rounded half up."""
    unit_hus = 2 * unit_us
    return (duration_hus * 100 + unit_hus // 2) // unit_hus


def report_columns(options: ReportOptions) -> list[str]:
    """The report's columns in SPEC order for these options."""
    groups = ["uptime", "downtime"]
    if options.extended:
        groups += ["unobserved", "outages", "longest_outage"]
    return ["store_id"] + [f"{group}_{w.name}" for group in groups for w in options.windows]


def _schema(options: ReportOptions) -> pa.Schema:
    if options == ReportOptions():
        return REPORT
    fields: list[pa.Field[Any]] = [pa.field("store_id", pa.string(), nullable=False)]
    for name in report_columns(options)[1:]:
        kind: pa.DataType = pa.int64() if name.startswith("outages_") else pa.float64()
        fields.append(pa.field(name, kind, nullable=False))
    return pa.schema(fields)


@dataclass(frozen=True)
class _ChunkReport:
    state: list[Totals]  # per window: business, active
    observed: list[Totals] | None  # per window: business, unobserved, unobserved and active
    outages: list[OutageTotals] | None
    stale: NDArray[np.int64]  # the stores (run numbers) without a recent poll


def compute_report(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    *,
    as_of: datetime | None = None,
    interpolation: Interpolation = "nearest",
    options: ReportOptions | None = None,
    workers: int = DEFAULT_WORKERS,
    chunk_rows: int = CHUNK_ROWS,
) -> Report:
    """The SPEC.md report for every store in ``polls`` with a poll at or before ``as_of``.

    ``as_of=None`` means the latest poll; a naive ``as_of`` is UTC. ``options`` chooses the
    windows, the extended columns and the accounting of unobserved time (default: the Part 1
    report). The stores are measured in chunks of about ``chunk_rows`` polls on ``workers``
    threads; neither changes the result.
    """
    options = options or ReportOptions()
    windows = options.windows
    measured = measure_chunks(
        polls,
        hours,
        timezones,
        lambda chunk: _measure(chunk, interpolation, options),
        as_of=as_of,
        span_us=options.longest_us,
        interpolation=interpolation,
        workers=workers,
        chunk_rows=chunk_rows,
    )
    if measured is None:
        return Report(_schema(options).empty_table(), None)
    parts = measured.results
    columns: dict[str, object] = {"store_id": measured.store_ids}
    for w, window in enumerate(windows):
        business = _joined([part.state[w].business_hus for part in parts])
        active = _joined([part.state[w].flagged_hus[0] for part in parts])
        inactive = business - active
        if options.unobserved == "exclude":
            observed = [part.observed[w] for part in parts if part.observed is not None]
            unobserved_active = _joined([total.flagged_hus[1] for total in observed])
            unobserved = _joined([total.flagged_hus[0] for total in observed])
            active = active - unobserved_active
            inactive = inactive - (unobserved - unobserved_active)
        columns[f"uptime_{window.name}"] = _rounded(active, window)
        columns[f"downtime_{window.name}"] = _rounded(inactive, window)
    if options.extended:
        for w, window in enumerate(windows):
            unobserved = _joined(
                [part.observed[w].flagged_hus[0] for part in parts if part.observed is not None]
            )
            columns[f"unobserved_{window.name}"] = _rounded(unobserved, window)
        for w, window in enumerate(windows):
            columns[f"outages_{window.name}"] = _joined(
                [part.outages[w].count for part in parts if part.outages is not None]
            )
        for w, window in enumerate(windows):
            longest = _joined(
                [part.outages[w].longest_hus for part in parts if part.outages is not None]
            )
            columns[f"longest_outage_{window.name}"] = _rounded(longest, window)
    schema = _schema(options)
    table = pa.table([columns[name] for name in schema.names], schema=schema)
    stale = _joined([part.stale for part in parts])
    return Report(table, to_datetime(measured.as_of_us), measured.store_ids.take(stale))


def _measure(chunk: Chunk, interpolation: Interpolation, options: ReportOptions) -> _ChunkReport:
    """One chunk: the state overlap's totals, and what the options add."""
    starts = [chunk.hi_us - window.length_us for window in options.windows]
    segments = state_segments(chunk.polls, interpolation)
    state = Overlap(
        segments.store,
        segments.start_hus,
        (segments.active,),
        chunk.intervals,
        chunk.n_stores,
        chunk.lo_us,
        chunk.hi_us,
    )
    observed = None
    if options.needs_observation:
        seen = observation(chunk.polls, interpolation, options.observed_within_us)
        observed = Overlap(
            seen.store,
            seen.start_hus,
            (seen.unobserved, seen.unobserved_active),
            chunk.intervals,
            chunk.n_stores,
            chunk.lo_us,
            chunk.hi_us,
        ).totals(starts)
    found = None
    if options.extended:
        found = outage_totals(outages(state), chunk.n_stores, starts)
    latest = chunk.polls.time_us[chunk.polls.first[1:] - 1]  # each store's last poll
    stale = np.flatnonzero(latest < chunk.lo_us - options.observed_within_us) + chunk.first
    return _ChunkReport(state.totals(starts), observed, found, stale)


def _joined(parts: list[NDArray[np.int64]]) -> NDArray[np.int64]:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts)


def _rounded(duration_hus: NDArray[np.int64], window: Window) -> NDArray[np.float64]:
    rounded: NDArray[np.float64] = hundredths(duration_hus, window.unit_us) / 100
    return rounded


def report_csv(table: pa.Table) -> bytes:
    """The report as CSV bytes: header, the table's columns in order, durations with exactly
    two decimals, counts as integers (see :mod:`storemon.engine.csvout`)."""
    return table_csv(table)
