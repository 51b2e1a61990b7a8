"""Synthetic status polls that look like the real feed.

Each store is checked about hourly, a few minutes past the hour (0-15 min, with
microsecond jitter); some checks are missing (each store has its own miss rate,
around 30 %). The true state is an on/off process: outages start at random
(a Poisson process whose rate differs per store: most stores are mostly fine,
a few are flaky) and last from minutes to days (log-normal, median
``median_outage_minutes``, capped at 5 days). A poll reports the true state at
its instant. With the defaults about 8 % of polls are inactive, the median store
is down ~5 % of the time, one in six never, one in twenty over 30 %: like the
benchmark set.

Everything is vectorized numpy and deterministic for a seed and a store list
(the store list is sorted first, so its order does not matter).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Final, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon import demo_data
from storemon.ingest.csv import read_source
from storemon.ingest.timestamps import format_instants
from storemon.instants import to_epoch_us
from storemon.schema import POLLS, US_PER_SECOND, Source

__all__ = ["demo_polls", "generate_polls", "polls_csv"]

_US_PER_HOUR: Final = 3600 * US_PER_SECOND
_US_PER_MINUTE: Final = 60 * US_PER_SECOND
_LONGEST_OUTAGE_US: Final = 5 * 24 * _US_PER_HOUR  # outages are capped at 5 days
_FLAKINESS_SHAPE: Final = 1.0  # gamma shape of per-store outage rates: small = uneven stores


def generate_polls(
    store_ids: Iterable[str],
    *,
    start: datetime,
    end: datetime,
    seed: int = 42,
    outages_per_day: float = 1.5,
    median_outage_minutes: float = 25.0,
    miss_rate: float = 0.3,
) -> pa.Table:
    """Polls (``schema.POLLS``) for ``store_ids`` in ``[start, end)``, sorted by time then store.

    ``outages_per_day`` is the average outage rate over all stores (per store it
    varies a lot), ``miss_rate`` the average share of hourly checks that are
    missing. Raises ``ValueError`` for an empty or reversed interval or bad rates.
    """
    start_us, end_us = _epoch_us(start), _epoch_us(end)
    if end_us <= start_us:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    if outages_per_day < 0 or median_outage_minutes <= 0 or not 0 <= miss_rate < 1:
        raise ValueError("need outages_per_day >= 0, median_outage_minutes > 0, 0 <= miss_rate < 1")
    stores = np.array(sorted(set(store_ids)), dtype=object)
    rng = np.random.default_rng(seed)
    store, at = _poll_instants(rng, len(stores), start_us, end_us, miss_rate)
    down = _inactive_at(
        rng,
        len(stores),
        store,
        at,
        start_us - _LONGEST_OUTAGE_US,
        end_us,
        outages_per_day / (24 * _US_PER_HOUR),
        median_outage_minutes * _US_PER_MINUTE,
    )
    order = np.lexsort((store, at))
    return pa.Table.from_arrays(
        [
            pa.array(stores[store[order]], pa.string()),
            pa.array(at[order], pa.timestamp("us", tz="UTC")),
            pa.array(~down[order], pa.bool_()),
        ],
        schema=POLLS,
    )


def demo_polls(
    *,
    hours: str | os.PathLike[str] | None = None,
    timezones: str | os.PathLike[str] | None = None,
    extra_stores: int = 0,
    days: float = 8.0,
    end: datetime,
    seed: int = 42,
) -> pa.Table:
    """Polls for every store named in an hours and a timezones file, plus synthetic stores.

    The valid rows of the files give the store ids (bad rows are ignored here).
    With neither file given, both are the bundled demo data
    (:mod:`storemon.demo_data`); with one given, only its stores get polls. The
    ``extra_stores`` synthetic stores (``synthetic-00001`` ...) have neither
    hours nor a zone, so the report treats them as open 24/7 in the default
    zone. Polls cover ``[end - days, end)``.
    """
    if days <= 0:
        raise ValueError("days must be positive")
    if extra_stores < 0:
        raise ValueError("extra_stores must be 0 or more")
    if hours is None and timezones is None:
        hours, timezones = demo_data.hours_path(), demo_data.timezones_path()
    given: tuple[tuple[Source, str | os.PathLike[str] | None], ...] = (
        ("hours", hours),
        ("timezones", timezones),
    )
    inputs = [(source, path) for source, path in given if path is not None]
    ids: set[str] = set()
    for source, path in inputs:
        column = read_source(source, path).table.column("store_id")
        ids.update(str(value) for value in pc.unique(column).to_pylist())
    ids.update(f"synthetic-{i:05d}" for i in range(1, extra_stores + 1))
    start = end - timedelta(days=days)
    return generate_polls(ids, start=start, end=end, seed=seed)


def polls_csv(polls: pa.Table) -> bytes:
    """Polls as a status CSV in the original format (``2023-01-22 12:09:39.388884 UTC``)."""
    ids = polls.column("store_id")
    needs_quotes = pc.match_substring_regex(ids, r'[",\r\n]')
    if pc.any(needs_quotes).as_py():
        quoted = _join(pa.scalar('"'), pc.replace_substring(ids, '"', '""'), pa.scalar('"'), "")
        ids = pc.if_else(needs_quotes, quoted, ids)
    status = pc.if_else(polls.column("active"), "active", "inactive")
    us = np.asarray(polls.column("timestamp_utc").cast(pa.int64()), np.int64)
    stamps = format_instants(us, suffix=" UTC\n")
    lines = _join(ids, status, stamps, ",")
    return b"store_id,status,timestamp_utc\n" + b"".join(_utf8(chunk) for chunk in _chunks(lines))


def _poll_instants(
    rng: np.random.Generator, stores: int, start_us: int, end_us: int, miss_rate: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(store index, instant) of every poll: hourly slots, a few minutes past, some missing."""
    first_hour = start_us // _US_PER_HOUR * _US_PER_HOUR - _US_PER_HOUR
    slots = np.arange(first_hour, end_us, _US_PER_HOUR, dtype=np.int64)
    # per-store miss rates around miss_rate (beta distribution with that mean)
    concentration = 8.0
    misses = rng.beta(miss_rate * concentration + 1e-9, (1 - miss_rate) * concentration, stores)
    present = rng.random((stores, len(slots))) >= misses[:, None]
    store, slot = np.nonzero(present)
    at = slots[slot] + rng.integers(0, 15 * _US_PER_MINUTE, len(slot), dtype=np.int64)
    inside = (at >= start_us) & (at < end_us)
    return store[inside].astype(np.int64), at[inside]


def _inactive_at(
    rng: np.random.Generator,
    stores: int,
    store: NDArray[np.int64],
    at: NDArray[np.int64],
    from_us: int,
    to_us: int,
    rate_per_us: float,
    median_us: float,
) -> NDArray[np.bool_]:
    """Whether each (store, instant) falls inside one of the store's outages."""
    span = to_us - from_us
    rates = rng.gamma(_FLAKINESS_SHAPE, rate_per_us / _FLAKINESS_SHAPE, stores)
    counts = rng.poisson(rates * span)
    owner = np.repeat(np.arange(stores, dtype=np.int64), counts)
    begin = rng.integers(0, span, len(owner), dtype=np.int64)
    length = np.minimum(rng.lognormal(np.log(median_us), 1.6, len(owner)), _LONGEST_OUTAGE_US)
    # one sorted key space: store k owns [k * width, (k + 1) * width)
    width = span + _LONGEST_OUTAGE_US + 1
    if stores * width >= 2**62:
        raise ValueError("too many stores for so long a period; generate in parts")
    begin_key = owner * width + begin
    order = np.argsort(begin_key, kind="stable")
    begin_key = begin_key[order]
    end_key = np.maximum.accumulate(begin_key + length[order].astype(np.int64))
    poll_key = store * width + (at - from_us)
    last = np.searchsorted(begin_key, poll_key, side="right") - 1
    return (last >= 0) & (end_key[np.maximum(last, 0)] > poll_key)


def _epoch_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; give an aware datetime")
    return to_epoch_us(moment)


# The stubs do not know that scalars broadcast against arrays here.
_join = cast("Callable[..., Any]", pc.binary_join_element_wise)


def _chunks(column: pa.Array[Any] | pa.ChunkedArray[Any]) -> list[pa.Array[Any]]:
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def _utf8(strings: pa.Array[Any]) -> bytes:
    """The concatenated text of a string array, straight from its buffers."""
    if len(strings) == 0:
        return b""
    _, offsets, data = strings.buffers()
    assert offsets is not None
    assert data is not None
    bounds = np.frombuffer(cast("bytes", offsets), np.int32)
    return bytes(memoryview(data)[bounds[strings.offset] : bounds[strings.offset + len(strings)]])
