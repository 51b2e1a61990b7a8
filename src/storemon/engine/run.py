"""One engine run over a fleet: encode the polls, look up hours and zones, measure by chunks.

Every output (the report, the outage list, the profile, a timeline) is computed the same
way: the polls at or before ``as_of`` are numbered by store (byte order of the ids) and
sorted; the stores are cut into chunks of whole stores (about ``chunk_rows`` polls, and few
enough stores for the 63-bit keys of the range); each chunk is measured on its own — its
polls, and its business intervals over ``[as_of - span, as_of]`` — on ``workers`` threads;
the results come back in chunk (= store) order. Stores are independent, so neither the
chunking nor the thread count changes a result.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from storemon.engine.hours import BusinessIntervals, HoursIndex, chunk_intervals, hours_index
from storemon.engine.overlap import max_stores
from storemon.engine.polls import PollArrays, PollChunk, SameInstant, encode_polls, sort_polls
from storemon.engine.zones import to_datetime, to_us
from storemon.errors import InvalidRequest
from storemon.schema import Interpolation

T = TypeVar("T")

#: Polls per chunk of stores: each chunk's arrays (a few MB) stay in the CPU caches.
CHUNK_ROWS = 1 << 17
#: Threads measuring chunks (numpy and pyarrow release the GIL).
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class Chunk:
    """What a measure gets: one chunk's polls (stores numbered from 0) and business intervals."""

    first: int  # the chunk's first store in the run
    polls: PollArrays
    intervals: BusinessIntervals
    index: HoursIndex  # the run's hours and zones (zone_of_store[first:...] is this chunk's)
    lo_us: int  # the range measured: [lo_us, hi_us]
    hi_us: int

    @property
    def n_stores(self) -> int:
        return self.polls.n_stores


@dataclass(frozen=True)
class Measured(Generic[T]):
    """The run's stores (sorted ids), the as_of used, and each chunk's result in store order."""

    store_ids: pa.Array[Any]
    as_of_us: int
    results: list[T]


def check_interpolation(interpolation: str) -> None:
    if interpolation not in ("nearest", "previous"):
        raise InvalidRequest(
            f"unknown interpolation {interpolation!r}: use 'nearest' or 'previous'"
        )


def only_store(
    polls: pa.Table, store_id: str, as_of: datetime | None
) -> tuple[pa.Table, datetime | None]:
    """The polls of one store, and the as_of to use: when none is given, the latest poll of
    all of ``polls`` (the fleet's "now", as for the report), not the store's own latest."""
    if as_of is None and polls.num_rows:
        latest = pc.max(polls.column("timestamp_utc")).as_py()
        as_of = None if latest is None else to_datetime(to_us(latest))
    ids = polls.column("store_id").cast(pa.string())
    return polls.filter(pc.equal(ids, pa.scalar(store_id, pa.string()))), as_of


def measure_chunks(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    measure: Callable[[Chunk], T],
    *,
    as_of: datetime | None,
    span_us: int,
    interpolation: Interpolation,
    workers: int = DEFAULT_WORKERS,
    chunk_rows: int = CHUNK_ROWS,
    every_zone: bool = False,
) -> Measured[T] | None:
    """``measure`` of every chunk of the stores with a poll at or before ``as_of``.

    ``as_of=None`` means the latest poll (a naive ``as_of`` is UTC); the range measured is
    ``[as_of - span_us, as_of]``. None when no poll is at or before ``as_of``.
    """
    check_interpolation(interpolation)
    encoded = encode_polls(polls, None if as_of is None else to_us(as_of), workers)
    store_ids = encoded.store_ids
    if len(store_ids) == 0:
        return None
    as_of_us = encoded.t_max if as_of is None else to_us(as_of)
    lo_us = as_of_us - span_us
    most = max_stores(lo_us, as_of_us)
    with ThreadPoolExecutor(max_workers=workers) if workers > 1 else _Inline() as pool:
        # hours and zones are looked up while the polls are sorted
        looked_up = pool.submit(
            hours_index, hours, timezones, store_ids, lo_us, as_of_us, every_zone=every_zone
        )
        chunks = sort_polls(encoded, chunk_rows, max_stores=most)
        index = looked_up.result()

        def task(chunk: PollChunk) -> T:
            intervals = chunk_intervals(index, chunk.first, chunk.stop)
            return measure(Chunk(chunk.first, chunk.arrays(), intervals, index, lo_us, as_of_us))

        try:
            results = list(pool.map(task, chunks))
        except SameInstant:  # polls of a store at one instant: keep the later row's
            chunks = sort_polls(encoded, chunk_rows, by_row=True, max_stores=most)
            results = list(pool.map(task, chunks))
    return Measured(store_ids, as_of_us, results)


class _Inline(Executor):
    """An executor that runs each call at once in the calling thread (``workers=1``)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


__all__ = [
    "CHUNK_ROWS",
    "DEFAULT_WORKERS",
    "Chunk",
    "Measured",
    "check_interpolation",
    "measure_chunks",
    "only_store",
]
