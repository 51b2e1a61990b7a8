"""An output of CSV files whose polls do not fit in memory: the polls cut on disk into
ranges of store ids, each range computed in memory, the parts joined.

The polls come from where the reader left them (:class:`storemon.ingest.service.ReadFile`:
a temporary Arrow file, in file order), read three times a table at a time, so memory
follows one table and one range, never the file:

1. the fleet's facts: its latest poll (the ``as_of`` of every range, as in one piece)
   and its store ids, each once;
2. the cut: the ids split into ranges of about equal count (byte order, as
   :mod:`storemon.jobs.partitioned` cuts a database), each table sorted by id (a stable
   sort: a store's rows stay in file order, so the later of two equal polls still wins)
   and its slices appended to its range's temporary Arrow file;
3. each range's polls read back whole and computed with that range's hours and zones
   (:func:`~storemon.jobs.outputs.compute_part`), then the parts joined in range order
   (:func:`~storemon.jobs.outputs.join_parts`).

Every store's rows land in exactly one range, in their order, and the engine's figures
of a store depend only on that store's inputs, so the output is byte for byte the one
computed in one piece; the summary's fallbacks are the fleet's.
"""

from __future__ import annotations

import bisect
import itertools
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, overload

import pyarrow as pa
import pyarrow.compute as pc

from storemon.instants import from_epoch_us, to_epoch_us
from storemon.jobs.outputs import ComputedOutput, JobSpec, compute_part, join_parts
from storemon.jobs.partitioned import partition_ranges
from storemon.jobs.summary import fallbacks_of
from storemon.schema import SCHEMAS, Interpolation
from storemon.store.base import StoreRange

__all__ = ["PART_POLLS", "one_store", "output_in_parts", "parts_for"]

#: Polls per range (about equal counts of stores are cut, so roughly): one range's
#: polls and the engine's work on them are what memory holds.
PART_POLLS: Final = 4_000_000

#: Each call gives the polls again, a table at a time, in file order.
Polls = Callable[[], Iterator[pa.Table]]


def parts_for(polls: int) -> int:
    """How many ranges ``polls`` polls are cut into."""
    return max(1, math.ceil(polls / PART_POLLS))


def output_in_parts(
    polls: Polls,
    parts: int,
    hours: pa.Table,
    hours_rejects: pa.Table,
    timezones: pa.Table,
    zone_rejects: pa.Table,
    *,
    spec: JobSpec,
    as_of: datetime | None,
    interpolation: Interpolation,
) -> ComputedOutput:
    """``spec``'s output of the polls, hours and zones, computed in ``parts`` ranges of
    stores (the same bytes as in one piece; see the module's docstring)."""
    latest, ids = _fleet(polls())
    used = as_of if as_of is not None else latest
    splits = _splits(ids, parts)
    done = []
    with tempfile.TemporaryDirectory(prefix="storemon-parts-") as folder:
        paths = _cut(polls(), splits, Path(folder))
        for stores, path in zip(partition_ranges(splits), paths, strict=True):
            with pa.memory_map(str(path)) as source:
                part = pa.ipc.open_stream(source).read_all()
            path.unlink()
            done.append(
                compute_part(
                    part,
                    _within(hours, stores),
                    _within(timezones, stores),
                    spec=spec,
                    as_of=used,
                    interpolation=interpolation,
                )
            )
            del part
    fallbacks = None
    if spec.output == "report":
        fallbacks = fallbacks_of(ids, hours, hours_rejects, timezones, zone_rejects)
    return join_parts(done, spec=spec, fallbacks=fallbacks)


def one_store(polls: Iterator[pa.Table], store_id: str) -> tuple[pa.Table, datetime | None]:
    """One store's polls (in file order) and the latest poll of all of them (the fleet's
    "now", as :func:`storemon.engine.run.only_store` gives)."""
    wanted = pa.scalar(store_id, pa.string())
    kept: list[pa.Table] = []
    latest: int | None = None
    for table in polls:
        latest = _later(latest, table)
        kept.append(table.filter(pc.equal(table.column("store_id"), wanted)))
    found = pa.concat_tables(kept) if kept else SCHEMAS["status"].empty_table()
    return found, None if latest is None else from_epoch_us(latest)


def _later(latest: int | None, table: pa.Table) -> int | None:
    """The later of ``latest`` (microseconds) and the table's latest poll."""
    high = pc.max(table.column("timestamp_utc")).as_py()
    if high is None:
        return latest
    found = to_epoch_us(high)
    return found if latest is None else max(latest, found)


def _fleet(polls: Iterator[pa.Table]) -> tuple[datetime | None, pa.Array[Any]]:
    """The latest poll and the distinct store ids (in no order) of all the polls."""
    latest: int | None = None
    held: list[pa.Array[Any]] = []
    held_rows = 0
    merged_rows = 0
    for table in polls:
        latest = _later(latest, table)
        distinct = pc.unique(table.column("store_id").combine_chunks())
        held.append(distinct)
        held_rows += len(distinct)
        if held_rows > max(1 << 20, 2 * merged_rows):  # the ids seen, each once
            held = [pc.unique(pa.concat_arrays(held))]
            held_rows = merged_rows = len(held[0])
    ids = pc.unique(pa.concat_arrays(held)) if held else pa.array([], pa.string())
    return (None if latest is None else from_epoch_us(latest)), ids


def _splits(ids: pa.Array[Any], parts: int) -> list[str]:
    """Ids cutting ``ids`` into ``parts`` ranges of about equal count, ascending in byte
    order without repeats (fewer when there are fewer ids)."""
    if parts <= 1 or len(ids) < 2:
        return []
    ordered = ids.take(pc.sort_indices(ids))  # Arrow orders text by its bytes
    count = len(ordered)
    picked = {ordered[(i * count) // parts].as_py() for i in range(1, parts)}
    first = ordered[0].as_py()
    return sorted((str(i) for i in picked if i != first), key=lambda i: i.encode())


class _Ids(Sequence[str]):
    """A sorted id column as a sequence :func:`bisect.bisect_left` can search (Python
    orders ``str`` by code point, which is the byte order of their UTF-8)."""

    def __init__(self, column: pa.Array[Any]) -> None:
        self._column = column

    def __len__(self) -> int:
        return len(self._column)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [str(value) for value in self._column[index].to_pylist()]
        return str(self._column[index].as_py())


def _cut(polls: Iterator[pa.Table], splits: list[str], folder: Path) -> list[Path]:
    """Each range's polls (cut at ``splits``) into a file of its own, in file order
    within each store."""
    paths = [folder / f"part-{index:05d}.arrow" for index in range(len(splits) + 1)]
    writers: list[pa.ipc.RecordBatchStreamWriter] = []
    try:
        for path in paths:
            writers.append(pa.ipc.new_stream(str(path), SCHEMAS["status"]))
        for table in polls:
            table = table.take(pc.sort_indices(table.column("store_id")))  # stable
            ids = _Ids(table.column("store_id").combine_chunks())
            cuts = [0, *(bisect.bisect_left(ids, split) for split in splits), table.num_rows]
            for writer, (start, end) in zip(writers, itertools.pairwise(cuts), strict=True):
                if end > start:
                    writer.write_table(table.slice(start, end - start))
    finally:
        for writer in writers:
            writer.close()
    return paths


def _within(table: pa.Table, stores: StoreRange) -> pa.Table:
    """The rows of ``table`` whose ``store_id`` lies in the range (byte order)."""
    ids = table.column("store_id")
    keep = None
    if stores.first is not None:
        keep = pc.greater_equal(ids, pa.scalar(stores.first, pa.string()))
    if stores.stop is not None:
        below = pc.less(ids, pa.scalar(stores.stop, pa.string()))
        keep = below if keep is None else pc.and_(keep, below)
    return table if keep is None else table.filter(keep)
