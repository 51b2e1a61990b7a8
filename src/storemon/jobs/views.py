"""Read views of the data for one store and of finished fleet jobs, as adapters need them.

Per store (the dashboard's store page, ``GET /stores/{id}/...``): only that store's
inputs are read (:class:`~storemon.store.base.StoreRange`), at the fleet's as_of, and
the engine runs on them — never on the fleet. Fleet views (``/stores``, ``/outages``,
``/profile``, ``/summary``) read the CSV of a finished job back into a table, once per job.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import pyarrow as pa

from storemon.engine import compute_report
from storemon.engine.csvout import read_table
from storemon.engine.options import DEFAULT_WINDOWS, ReportOptions, Window
from storemon.engine.outages import OutageList, compute_outages
from storemon.engine.timeline import Timeline, store_timeline
from storemon.errors import UnknownStore
from storemon.schema import Interpolation
from storemon.store.base import DataStore, ReportInputs, StoreRange

__all__ = ["FLEET_REPORT", "ResultTables", "StoreView", "store_outages", "store_view"]

#: The options of the fleet report the views read (extended, the three classic windows).
FLEET_REPORT: Final = ReportOptions(extended=True)


def _inputs(store: DataStore, store_id: str, as_of: datetime | None, span_us: int) -> ReportInputs:
    longest = max(span_us, DEFAULT_WINDOWS[-1].length_us)
    return store.report_inputs(
        as_of, lookback=timedelta(microseconds=longest), stores=StoreRange.one(store_id)
    )


def store_outages(
    store: DataStore,
    store_id: str,
    *,
    as_of: datetime | None,
    interpolation: Interpolation,
    window: Window,
) -> OutageList:
    """One store's outage list. Raises UnknownStore."""
    inputs = _inputs(store, store_id, as_of, window.length_us)
    if inputs.as_of is None:
        raise UnknownStore(store_id)
    return compute_outages(
        inputs.polls,
        inputs.hours,
        inputs.timezones,
        as_of=inputs.as_of,
        interpolation=interpolation,
        window=window,
        store_id=store_id,
    )


@dataclass(frozen=True)
class StoreView:
    """What a page about one store shows: its timeline, figures, hours and zone as stored."""

    timeline: Timeline
    figures: dict[str, object]  # the extended report row, windows 1h, 24h, 168h
    hours: pa.Table  # schema.HOURS rows as stored (none: open 24x7)
    zone_stored: bool  # whether a timezone row exists (else America/Chicago)


def store_view(
    store: DataStore,
    store_id: str,
    *,
    as_of: datetime | None,
    interpolation: Interpolation,
    window: Window,
    observed_within_us: int,
) -> StoreView:
    """Everything about one store for one window. Raises UnknownStore."""
    inputs = _inputs(store, store_id, as_of, window.length_us)
    if inputs.as_of is None:
        raise UnknownStore(store_id)
    timeline = store_timeline(
        inputs.polls,
        inputs.hours,
        inputs.timezones,
        store_id=store_id,
        as_of=inputs.as_of,
        interpolation=interpolation,
        window=window,
        observed_within_us=observed_within_us,
    )
    report = compute_report(
        inputs.polls,
        inputs.hours,
        inputs.timezones,
        as_of=inputs.as_of,
        interpolation=interpolation,
        options=ReportOptions(extended=True, observed_within_us=observed_within_us),
        workers=1,
    )
    rows = report.table.to_pylist()
    figures = {k: v for k, v in rows[0].items() if k != "store_id"} if rows else {}
    return StoreView(timeline, figures, inputs.hours, inputs.timezones.num_rows > 0)


class ResultTables:
    """Finished jobs' CSVs read back as tables, the few most recent kept (jobs never change)."""

    def __init__(self, kept: int = 4) -> None:
        self._kept = kept
        self._tables: OrderedDict[str, pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def table(self, job_id: str, csv: bytes) -> pa.Table:
        with self._lock:
            found = self._tables.get(job_id)
            if found is not None:
                self._tables.move_to_end(job_id)
                return found
        table = read_table(csv)
        with self._lock:
            self._tables[job_id] = table
            while len(self._tables) > self._kept:
                self._tables.popitem(last=False)
        return table
