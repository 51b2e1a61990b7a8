"""compute_report: the public entry point of the engine."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon.engine.hours import chunk_intervals, hours_index
from storemon.engine.measure import WindowTotals, chunk_totals, join_totals
from storemon.engine.polls import PollChunk, SameInstant, encode_polls, sort_polls
from storemon.engine.states import state_segments
from storemon.engine.zones import to_datetime, to_us
from storemon.errors import InvalidRequest
from storemon.schema import REPORT, REPORT_COLUMNS, Interpolation

US_PER_HOUR = 3_600_000_000
T = TypeVar("T")
_join = cast("Callable[..., pa.Array[Any]]", pc.binary_join_element_wise)
#: The windows, as (length, unit of the reported number), both in microseconds.
WINDOWS = (
    ("last_hour", US_PER_HOUR, 60_000_000),
    ("last_day", 24 * US_PER_HOUR, US_PER_HOUR),
    ("last_week", 168 * US_PER_HOUR, US_PER_HOUR),
)


#: Polls per chunk of stores: each chunk's arrays (a few MB) stay in the CPU caches.
CHUNK_ROWS = 1 << 17
#: Threads measuring chunks (numpy and pyarrow release the GIL).
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class Report:
    """A computed report: the table (schema.REPORT, sorted by store_id) and the as_of used."""

    table: pa.Table
    as_of: datetime | None  # None when there were no polls at or before as_of


def hundredths(duration_hus: NDArray[np.int64], unit_us: int) -> NDArray[np.int64]:
    """An exact duration (half-µs) in hundredths of ``unit_us``, rounded half up."""
    unit_hus = 2 * unit_us
    return (duration_hus * 100 + unit_hus // 2) // unit_hus


def compute_report(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    *,
    as_of: datetime | None = None,
    interpolation: Interpolation = "nearest",
    workers: int = DEFAULT_WORKERS,
    chunk_rows: int = CHUNK_ROWS,
) -> Report:
    """The SPEC.md report for every store in ``polls`` with a poll at or before ``as_of``.

    ``as_of=None`` means the latest poll; a naive ``as_of`` is UTC. The stores are
    measured in chunks of about ``chunk_rows`` polls on ``workers`` threads; neither
    changes the result.
    """
    if interpolation not in ("nearest", "previous"):
        raise InvalidRequest(
            f"unknown interpolation {interpolation!r}: use 'nearest' or 'previous'"
        )
    encoded = encode_polls(polls, None if as_of is None else to_us(as_of), workers)
    store_ids = encoded.store_ids
    if len(store_ids) == 0:
        return Report(REPORT.empty_table(), None)
    as_of_us = encoded.t_max if as_of is None else to_us(as_of)
    starts = [as_of_us - length for _, length, _ in WINDOWS]
    with ThreadPoolExecutor(max_workers=workers) if workers > 1 else _Inline() as pool:
        # hours and zones are looked up while the polls are sorted
        looked_up = pool.submit(hours_index, hours, timezones, store_ids, min(starts), as_of_us)
        chunks = sort_polls(encoded, chunk_rows)
        index = looked_up.result()

        def measure(chunk: PollChunk) -> list[WindowTotals]:
            segments = state_segments(chunk.arrays(), interpolation)
            intervals = chunk_intervals(index, chunk.first, chunk.stop)
            return chunk_totals(segments, intervals, chunk.stop - chunk.first, starts, as_of_us)

        try:
            measured = list(pool.map(measure, chunks))
        except SameInstant:  # polls of a store at one instant: keep the later row's
            chunks = sort_polls(encoded, chunk_rows, by_row=True)
            measured = list(pool.map(measure, chunks))
        del encoded, chunks
        totals = join_totals(measured, len(WINDOWS))
    up = {}
    down = {}
    for (name, _, unit_us), total in zip(WINDOWS, totals, strict=True):
        up[f"uptime_{name}"] = hundredths(total.active_hus, unit_us) / 100
        down[f"downtime_{name}"] = hundredths(total.inactive_hus, unit_us) / 100
    columns = {"store_id": store_ids, **up, **down}
    table = pa.table([columns[name] for name in REPORT_COLUMNS], schema=REPORT)
    return Report(table, to_datetime(as_of_us))


class _Inline(Executor):
    """An executor that runs each call at once in the calling thread (``workers=1``)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _two_decimals(values: pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """Non-negative floats as text with exactly two decimals (``1.7``: ``1.70``)."""
    q = np.rint(np.asarray(values.to_numpy(), dtype=np.float64) * 100).astype(np.int64)
    whole = pa.array(q // 100).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(q % 100).cast(pa.string()), width=2, padding="0")
    return _join(whole, frac, ".")


def _csv_field(ids: pa.Array[Any] | pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """Store ids as CSV fields: quoted (quotes doubled) only when they need it."""
    ids = pc.cast(ids, pa.string())
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    quoted = _join('"', pc.replace_substring(ids, '"', '""'), '"', "")
    return cast(
        "pa.Array[Any]", pc.if_else(pc.match_substring_regex(ids, r'[",\r\n]'), quoted, ids)
    )


def report_csv(table: pa.Table) -> bytes:
    """The report as CSV bytes: header, SPEC column order, values with exactly two decimals.

    Lines end in ``\\n``; a store id is quoted only when it holds a comma, quote or newline.
    """
    header = ",".join(REPORT_COLUMNS) + "\n"
    if table.num_rows == 0:
        return header.encode()
    fields = [_csv_field(table.column("store_id"))]
    fields += [_two_decimals(table.column(name)) for name in REPORT_COLUMNS[1:]]
    lines = _join(*fields, ",")
    return (header + "\n".join(cast("list[str]", lines.to_pylist())) + "\n").encode()
