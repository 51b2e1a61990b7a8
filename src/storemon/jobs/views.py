"""Read views of the data for one store and of finished fleet jobs, as adapters need them.

Per store (the dashboard's store page, ``GET /stores/{id}/...``): only that store's
inputs are read (:class:`~storemon.store.base.StoreRange`), at the fleet's as_of, and
the engine runs on them — never on the fleet. Fleet views (``/stores``, ``/outages``,
``/profile``, ``/summary``) read the CSV of a finished job back into a table, once per job.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storemon import schema
from storemon.engine import compute_report
from storemon.engine.csvout import read_table
from storemon.engine.options import DEFAULT_WINDOWS, ReportOptions, Window
from storemon.engine.outages import OutageList, compute_outages
from storemon.engine.timeline import Timeline, store_timeline
from storemon.errors import UnknownStore
from storemon.schema import Interpolation
from storemon.store.arrow import CODED_POLLS
from storemon.store.base import LOOKBACK, DataStore, ReportInputs, StoreRange

__all__ = [
    "FLEET_REPORT",
    "ResultTables",
    "StoreReads",
    "StoreView",
    "store_outages",
    "store_view",
]

#: The options of the fleet report the views read (extended, the three classic windows).
FLEET_REPORT: Final = ReportOptions(extended=True)


log = logging.getLogger(__name__)

#: The most polls a :class:`StoreReads` snapshot holds (about 13 bytes each, with their
#: store's position); a bigger fleet's per-store reads go to the database each time.
SNAPSHOT_MAX_POLLS: Final = 5_000_000


@dataclass(frozen=True)
class _Snapshot:
    """The fleet's inputs at the latest poll of one data version, sorted by store."""

    version: int
    as_of: datetime | None
    positions: dict[str, int]  # store id -> its index in the polls' dictionary
    polls: pa.Table  # CODED_POLLS rows sorted by store index (stable: order kept)
    poll_starts: np.ndarray  # store index i's polls are rows [starts[i], starts[i + 1])
    hours: pa.Table
    hour_rows: dict[str, tuple[int, int]]
    timezones: pa.Table
    zone_rows: dict[str, tuple[int, int]]

    def inputs(self, store_id: str) -> ReportInputs:
        """What ``report_inputs(None, stores=StoreRange.one(store_id))`` returns."""
        index = self.positions.get(store_id)
        if index is None:
            polls = schema.empty(CODED_POLLS)
        else:
            start, stop = int(self.poll_starts[index]), int(self.poll_starts[index + 1])
            rows = self.polls.slice(start, stop - start)
            ids = pa.DictionaryArray.from_arrays(
                np.zeros(stop - start, np.int32), pa.array([store_id], pa.string())
            )
            polls = rows.set_column(0, CODED_POLLS.field(0), ids)
        return ReportInputs(
            polls=polls,
            hours=_rows_of(self.hours, self.hour_rows, store_id),
            timezones=_rows_of(self.timezones, self.zone_rows, store_id),
            as_of=self.as_of,
        )


def _rows_of(table: pa.Table, rows: dict[str, tuple[int, int]], store_id: str) -> pa.Table:
    start, stop = rows.get(store_id, (0, 0))
    return table.slice(start, stop - start)


def _grouped(table: pa.Table) -> tuple[pa.Table, dict[str, tuple[int, int]]]:
    """``table`` sorted by ``store_id`` (stable), and each id's rows in it."""
    ordered = table.take(pc.sort_indices(table, [("store_id", "ascending")]))
    ids = ordered.column("store_id").combine_chunks()
    if len(ids) == 0:
        return ordered, {}
    changes = np.asarray(pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False), bool)
    starts = np.concatenate([[0], np.flatnonzero(changes) + 1, [len(ids)]]).tolist()
    names = ids.take(starts[:-1]).to_pylist()
    return ordered, {str(n): (a, b) for n, a, b in zip(names, starts[:-1], starts[1:], strict=True)}


def _snapshot(store: DataStore, version: int, max_polls: int) -> _Snapshot | None:
    """The fleet's inputs at its latest poll, sorted by store; None past ``max_polls``."""
    fleet = store.report_inputs(None, lookback=LOOKBACK)
    if fleet.polls.num_rows > max_polls:
        return None
    coded = fleet.polls.column(0).combine_chunks()
    assert isinstance(coded, pa.DictionaryArray)  # CODED_POLLS
    indices = np.asarray(coded.indices.to_numpy(zero_copy_only=False), np.int32)
    order = np.argsort(indices, kind="stable")
    ids = coded.dictionary
    starts = np.searchsorted(indices[order], np.arange(len(ids) + 1), side="left")
    hours, hour_rows = _grouped(fleet.hours)
    zones, zone_rows = _grouped(fleet.timezones)
    return _Snapshot(
        version=version,
        as_of=fleet.as_of,
        positions={str(store_id): i for i, store_id in enumerate(ids.to_pylist())},
        polls=fleet.polls.take(order),
        poll_starts=starts,
        hours=hours,
        hour_rows=hour_rows,
        timezones=zones,
        zone_rows=zone_rows,
    )


class StoreReads:
    """One store's inputs, sliced from a snapshot of the fleet's week when one is ready.

    A page about one store, or ``GET /stores/{id}/...``, needs one store's polls; on
    DuckDB a query for them scans every poll (DuckDB's only index, an ART index, on
    ``polls (store_code)`` would make a bulk load 1.5 to 2 times slower and cost about
    33 MB per million polls, the memory that matters at scale). So a request reads its
    one store from the database and, when the data version has no snapshot yet, starts
    a background thread that reads the fleet's week once (what a report reads: 0.02 s
    on DuckDB, 0.4 s on PostgreSQL for the benchmark set) and sorts it by store; the
    requests after it slice that snapshot. A request never waits for the fleet, and
    computes only its store. The snapshot is keyed by the data version, so the request
    after an ingest reads the database again until the new snapshot is ready. Reads at
    a given ``as_of`` or of a window longer than a week always go to the database; so
    does every read once a fleet's week was found to hold more than ``max_polls`` polls
    (the snapshot would cost too much memory; such a fleet does not shrink back).
    """

    def __init__(self, max_polls: int = SNAPSHOT_MAX_POLLS) -> None:
        self._max_polls = max_polls
        self._snapshot: _Snapshot | None = None
        self._too_big = max_polls <= 0
        self._lock = threading.Lock()
        self._builder: threading.Thread | None = None

    def inputs(
        self, store: DataStore, store_id: str, as_of: datetime | None, span_us: int
    ) -> ReportInputs:
        """What ``store.report_inputs`` gives for this one store, for windows up to
        ``span_us`` long (at least a week)."""
        lookback = timedelta(microseconds=max(span_us, DEFAULT_WINDOWS[-1].length_us))
        if as_of is None and lookback == LOOKBACK and not self._too_big:
            version = store.data_version()
            found = self._snapshot
            if found is not None and found.version == version:
                return found.inputs(store_id)
            self._start_building(store, version)
        return store.report_inputs(as_of, lookback=lookback, stores=StoreRange.one(store_id))

    def wait(self, timeout: float) -> None:
        """Wait for a snapshot being built (tests; the requests never wait)."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)

    def _start_building(self, store: DataStore, version: int) -> None:
        with self._lock:
            if self._builder is not None and self._builder.is_alive():
                return  # one build at a time; this request reads from the database
            self._builder = threading.Thread(
                target=self._build, args=(store, version), name="store-reads", daemon=True
            )
            self._builder.start()

    def _build(self, store: DataStore, version: int) -> None:
        self._snapshot = None  # the old one's memory goes before the new one is read
        try:
            built = _snapshot(store, version, self._max_polls)
        except Exception:  # a closed store, a lost connection: the reads stay direct
            log.warning("could not snapshot the fleet's week for per-store reads", exc_info=True)
            return
        if built is None:
            self._too_big = True
            log.info(
                "per-store reads go to the database: the fleet's week holds more than %d polls",
                self._max_polls,
            )
        self._snapshot = built


def store_outages(
    store: DataStore,
    store_id: str,
    *,
    as_of: datetime | None,
    interpolation: Interpolation,
    window: Window,
    reads: StoreReads | None = None,
) -> OutageList:
    """One store's outage list (``reads``: where its inputs come from). Raises UnknownStore."""
    inputs = (reads or _DIRECT).inputs(store, store_id, as_of, window.length_us)
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
        workers=1,  # one store: threads would cost more than they share
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
    reads: StoreReads | None = None,
) -> StoreView:
    """Everything about one store for one window (``reads``: where its inputs come
    from). Raises UnknownStore."""
    inputs = (reads or _DIRECT).inputs(store, store_id, as_of, window.length_us)
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


_DIRECT: Final = StoreReads(max_polls=0)  # every read from the database


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
