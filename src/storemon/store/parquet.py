"""A Parquet dataset of the stored data, sorted and split by store id (``storemon export``).

Layout of ``DIR``::

    manifest.json                 format, data version, latest poll, and each part:
                                  its file name and its range of store ids [first, stop)
    polls/part-00000.parquet      store_id, timestamp_utc, active (UTC), by id then instant
    hours/part-00000.parquet      store_id, day_of_week, start_local_us, end_local_us
    timezones/part-00000.parquet  store_id, timezone_str

Part ``i`` holds the stores whose ids lie in the range the manifest gives for it (byte
order; ids can hold any character, so the ranges are in the manifest, not in file
names), so part files concatenated in order are sorted by store id: a reader (Dask,
DuckDB, pandas) gets known divisions and needs no shuffle. The manifest is written last:
a directory without one is an export that did not finish.

This is how a DuckDB database is served to Dask workers (a DuckDB file admits one
process, and a server may hold it): :func:`parquet_inputs` reads one part as the store
would read it for a report (polls in ``(as_of - lookback, as_of]`` plus each store's
last poll before).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storemon import schema
from storemon.errors import InputError
from storemon.instants import from_epoch_us, to_epoch_us
from storemon.store.base import DataStore, ReportInputs, StoreRange, lookback_cutoff

__all__ = [
    "FORMAT",
    "MANIFEST",
    "Manifest",
    "export_parquet",
    "parquet_inputs",
    "read_manifest",
]

FORMAT: Final = "storemon-parquet-1"
MANIFEST: Final = "manifest.json"
_TABLES: Final = ("polls", "hours", "timezones")


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says: the data version and latest poll exported, the ranges."""

    data_version: int
    latest_poll: datetime | None
    ranges: list[StoreRange]
    polls: list[int]  # rows per part

    def part_file(self, table: str, part: int) -> str:
        return os.path.join(table, f"part-{part:05d}.parquet")


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of an export, or InputError saying what is wrong with the folder."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{folder} is not a finished storemon export: no {MANIFEST} "
            "(write one with storemon export --parquet DIR)"
        ) from None
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} manifest")
    latest = data.get("latest_poll_us")
    return Manifest(
        data_version=int(data["data_version"]),
        latest_poll=None if latest is None else from_epoch_us(int(latest)),
        ranges=[StoreRange(first=p["first"], stop=p["stop"]) for p in data["parts"]],
        polls=[int(p["polls"]) for p in data["parts"]],
    )


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(key, "ascending") for key in keys])


def _sorted_polls(polls: pa.Table) -> pa.Table:
    """Dictionary-coded polls by store id (byte order) then instant, ids as plain text:
    the few distinct ids are sorted, not a string per poll."""
    coded = polls.column("store_id").combine_chunks()
    assert isinstance(coded, pa.DictionaryArray)  # CODED_POLLS
    dictionary = coded.dictionary
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary))
    by_store = rank[coded.indices.to_numpy(zero_copy_only=False)]
    instants = polls.column("timestamp_utc").cast(pa.int64()).to_numpy()
    order = np.lexsort((instants, by_store))
    taken = polls.take(order)
    return taken.set_column(0, "store_id", taken.column("store_id").cast(pa.string()))


def export_parquet(
    store: DataStore, folder: str | Path, ranges: list[StoreRange], *, replace: bool = False
) -> Manifest:
    """Write the store's polls, hours and zones to ``folder``, one part per range (read
    and written one range at a time: memory follows the largest part). ``folder`` must
    not exist or be empty, unless ``replace``."""
    target = Path(folder)
    if target.exists() and any(target.iterdir()):
        if not replace:
            raise InputError(f"{target} is not empty: give a new or empty directory (or --replace)")
        shutil.rmtree(target)
    for table in _TABLES:
        (target / table).mkdir(parents=True, exist_ok=True)
    version = store.data_version()
    latest = None
    parts: list[dict[str, Any]] = []
    for index, stores in enumerate(ranges):
        rows = store.export_rows(stores)
        latest = rows.as_of
        polls = _sorted_polls(rows.polls)
        tables = {
            "polls": polls,
            "hours": _sorted(rows.hours, ["store_id", "day_of_week", "start_local_us"]),
            "timezones": _sorted(rows.timezones, ["store_id"]),
        }
        for name, rows_of in tables.items():
            pq.write_table(rows_of, target / name / f"part-{index:05d}.parquet")
        parts.append({"first": stores.first, "stop": stores.stop, "polls": polls.num_rows})
    manifest = {
        "format": FORMAT,
        "data_version": version,
        "latest_poll_us": None if latest is None else to_epoch_us(latest),
        "parts": parts,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return read_manifest(target)


def _read(folder: str, manifest: Manifest, table: str, part: int, target: pa.Schema) -> pa.Table:
    path = os.path.join(folder, manifest.part_file(table, part))
    try:
        read = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(f"cannot read part {part} of the export {folder}: {error}") from None
    if read.schema.names != target.names:
        raise InputError(f"{path} has columns {read.schema.names}, not {target.names}")
    return read.cast(target)


def parquet_inputs(
    folder: str, manifest: Manifest, part: int, as_of: datetime | None, lookback: timedelta
) -> ReportInputs:
    """One part's report inputs, as :meth:`DataStore.report_inputs` reads them: polls in
    ``(as_of - lookback, as_of]`` plus each store's last poll at or before the cut; as_of
    None is the export's latest poll."""
    used = as_of if as_of is not None else manifest.latest_poll
    polls = _read(folder, manifest, "polls", part, schema.POLLS)
    hours = _read(folder, manifest, "hours", part, schema.HOURS)
    zones = _read(folder, manifest, "timezones", part, schema.TIMEZONES)
    if used is None:
        return ReportInputs(schema.empty(schema.POLLS), hours, zones, None)
    instants = polls.column("timestamp_utc")
    kind = instants.type
    polls = polls.filter(pc.less_equal(instants, pa.scalar(used, kind)))
    cut = pa.scalar(lookback_cutoff(used, lookback), kind)
    recent = pc.greater(polls.column("timestamp_utc"), cut)
    older = polls.filter(pc.invert(recent))
    if older.num_rows:  # sorted by store then instant: each store's last row
        ids = older.column("store_id").combine_chunks()
        changes = pc.not_equal(ids.slice(0, len(ids) - 1), ids.slice(1))
        last = np.append(np.flatnonzero(changes.to_numpy(zero_copy_only=False)), len(ids) - 1)
        older = older.take(pa.array(last))
    return ReportInputs(pa.concat_tables([polls.filter(recent), older]), hours, zones, used)
