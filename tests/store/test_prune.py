"""Pruning old polls (issue 10 item 4), on both backends: every report whose window
starts after the cut is unchanged, each store's last poll before the cut is kept, a
second prune and a dry run change nothing, and a prune cut off midway leaves the
database as it was (an exception in the process, or SIGKILL of a real process)."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from storemon.engine.options import ReportOptions, parse_window, parse_windows
from storemon.errors import InvalidRequest
from storemon.jobs.outputs import JobSpec, output_of_store
from storemon.store import IngestBatch, Store, open_store, retention
from storemon.store.retention import boundary_of, parse_older_than, prune

if TYPE_CHECKING:
    from conftest import Tables

#: A Wednesday; five weeks of polls end here (the weeks start on Mondays).
END = datetime(2023, 2, 22, 17, 40, tzinfo=UTC)
WEEKS = 5
IDS = ["a", "a\x01", "a0", "0042", "42", "ünï €", "z" * 40] + [f"s{i:03d}" for i in range(23)]


def _polls(seed: int = 10) -> list[tuple[str, datetime, bool]]:
    """Irregular polls of 30 stores over five weeks (fixed seed): some stores stop early,
    some start late, some poll every few hours, some go quiet for days."""
    rng = random.Random(seed)
    start = END - timedelta(weeks=WEEKS)
    rows: list[tuple[str, datetime, bool]] = []
    for i, store_id in enumerate(IDS):
        first = start + timedelta(hours=rng.randrange(0, 24 * 7 * (2 if i % 5 == 1 else 1)))
        last = END - timedelta(hours=rng.randrange(0, 24 * 7 * 3) if i % 4 == 2 else 0)
        at = first
        active = True
        while at <= last:
            if rng.random() < 0.2:
                active = not active
            rows.append((store_id, at, active))
            gap = rng.choice([1, 1, 1, 2, 3]) if i % 6 else rng.choice([1, 9, 30, 70])
            at += timedelta(hours=gap, minutes=rng.randrange(0, 60), seconds=i)
    return rows


def _settings(tables: type[Tables]) -> IngestBatch:
    hours = [(store_id, day, "09:00", "21:00") for store_id in IDS[::3] for day in range(6)]
    zones = [(store_id, "Asia/Kolkata") for store_id in IDS[1::4]]
    zones += [(store_id, "America/New_York") for store_id in IDS[2::4]]
    return IngestBatch(hours=tables.hours(hours), timezones=tables.timezones(zones))


def _loaded(store: Store, tables: type[Tables], polls: list[tuple[str, datetime, bool]]) -> None:
    store.apply_ingest(_settings(tables))
    # In three ingests, oldest first, as the data would arrive.
    third = len(polls) // 3
    by_time = sorted(polls, key=lambda row: row[1])
    for part in (by_time[:third], by_time[third : 2 * third], by_time[2 * third :]):
        store.apply_ingest(IngestBatch(polls=tables.polls(part)))


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    text = table.set_column(0, "store_id", table.column("store_id").cast(pa.string()))
    return sorted(tuple(row.values()) for row in text.to_pylist())


SPECS = {
    "report": JobSpec(),
    "extended": JobSpec(
        options=ReportOptions(windows=parse_windows("1h,24h,168h,3d"), extended=True)
    ),
    "outages": JobSpec(output="outages", window=parse_window("168h")),
    "profile": JobSpec(output="profile", window=parse_window("168h")),
}


def _outputs(store: Store, as_ofs: list[datetime]) -> dict[tuple[str, str, datetime], bytes]:
    found = {}
    for as_of in as_ofs:
        for name, spec in SPECS.items():
            for interpolation in ("nearest", "previous"):
                output = output_of_store(store, spec, as_of=as_of, interpolation=interpolation)
                found[(name, interpolation, as_of)] = output.csv
    return found


def _stored(store: Store) -> list[tuple[object, ...]]:
    return _rows(store.report_inputs(END, lookback=timedelta(days=367)).polls)


def test_prune_keeps_reports_unchanged_for_windows_after_the_cut(
    store: Store, tables: type[Tables]
) -> None:
    polls = _polls()
    _loaded(store, tables, polls)
    older_than = parse_older_than("16d")
    boundary = boundary_of(END - older_than)
    assert boundary == datetime(2023, 2, 6, tzinfo=UTC)  # the Monday at or before the cut
    week = timedelta(days=7)
    # as_of whose longest window (a week) starts at or after the boundary; the report's
    # own default (latest poll) among them.
    as_ofs = [END, END - timedelta(days=3, minutes=17), boundary + week, boundary + week * 1.5]
    before = _outputs(store, as_ofs)
    inputs_before = {as_of: _rows(store.report_inputs(as_of).polls) for as_of in as_ofs}
    version = store.data_version()
    counts = store.counts()

    result = prune(store, older_than)

    assert result is not None
    older = [row for row in polls if row[1] < boundary]
    keepers = {}
    for row in sorted(older, key=lambda row: row[1]):
        keepers[row[0]] = row
    assert result.kept == len(keepers) > 10
    assert result.removed == len(older) - len(keepers) > 1000
    assert result.changed
    assert result.data_version == version + 1 == store.data_version()
    assert store.counts() == {**counts, "polls": counts["polls"] - result.removed}
    # The keepers are kept: before the boundary only each store's last poll remains.
    remaining = [row for row in _stored(store) if row[1] < boundary]
    assert remaining == sorted(keepers.values())
    assert [row for row in _stored(store) if row[1] >= boundary] == sorted(
        row for row in polls if row[1] >= boundary
    )
    assert store.latest_poll_utc() == max(row[1] for row in polls)
    # Every output is the same, byte for byte, and so are the inputs.
    assert _outputs(store, as_ofs) == before
    assert {as_of: _rows(store.report_inputs(as_of).polls) for as_of in as_ofs} == inputs_before

    # A second prune is a no-op: nothing removed, the data version stays.
    again = prune(store, older_than)
    assert again is not None
    assert (again.removed, again.changed, again.data_version) == (0, False, version + 1)
    assert _outputs(store, as_ofs) == before

    # New polls (and older ones, into the pruned weeks) go on being ingested.
    late = [("a", END + timedelta(days=8), False), ("new", END + timedelta(days=8), True)]
    old = [("a0", boundary - timedelta(days=20), False)]
    store.apply_ingest(IngestBatch(polls=tables.polls(late + old)))
    assert set(late + old) <= set(_stored(store)) | {
        (row[0], row[1], row[2]) for row in _rows(store.report_inputs(late[0][1]).polls)
    }


def test_a_dry_run_changes_nothing_and_says_what_would_go(
    store: Store, tables: type[Tables]
) -> None:
    _loaded(store, tables, _polls(seed=3))
    version, counts, stored = store.data_version(), store.counts(), _stored(store)

    dry = prune(store, parse_older_than("3w"), dry_run=True)

    assert dry is not None
    assert dry.dry_run
    assert not dry.changed
    assert (store.data_version(), store.counts(), _stored(store)) == (version, counts, stored)
    real = prune(store, parse_older_than("3w"))
    assert real is not None
    assert (real.removed, real.kept, real.partitions) == (dry.removed, dry.kept, dry.partitions)
    assert real.removed > 0
    assert real.data_version == version + 1


def test_a_prune_within_the_last_week_needs_force(store: Store, tables: type[Tables]) -> None:
    _loaded(store, tables, _polls())
    with pytest.raises(InvalidRequest, match="--force"):
        prune(store, parse_older_than("6d"))
    result = prune(store, parse_older_than("6d"), force=True)
    assert result is not None
    assert result.removed > 0


def test_an_empty_database_has_nothing_to_prune(store: Store) -> None:
    assert prune(store, parse_older_than("8w")) is None
    assert store.prune_polls(END).removed == 0
    assert store.data_version() == 0


@pytest.mark.parametrize("text", ["", "0d", "8", "d", "-3d", "1.5w", "3 weeks", "30m", "8W "])
def test_ages_are_whole_hours_days_or_weeks(text: str) -> None:
    if text == "8W ":
        assert parse_older_than(text) == timedelta(weeks=8)
        return
    with pytest.raises(InvalidRequest, match="write a positive whole number and a unit h, d or w"):
        parse_older_than(text)


def _state(store: Store) -> tuple[object, ...]:
    """What a prune cut off midway must leave as it was: data version, counts, the
    stored polls, every output at END."""
    return store.data_version(), store.counts(), _stored(store), _outputs(store, [END])


def _as_before_then_prunes(store: Store, before: tuple[object, ...]) -> None:
    """``store`` is as ``before``; a prune then works and changes no output at END."""
    assert _state(store) == before
    result = prune(store, parse_older_than("2w"))  # and then it works
    assert result is not None
    assert result.removed > 0
    assert _outputs(store, [END]) == before[-1]


@pytest.mark.parametrize("stage", ["keepers", "dropped", "kept"])
def test_a_prune_cut_off_midway_leaves_the_database_as_it_was(
    store: Store, tables: type[Tables], monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    _loaded(store, tables, _polls(seed=5))
    before = _state(store)

    def crash(at: str) -> None:
        if at == stage:
            raise RuntimeError(f"crashed at {at}")

    monkeypatch.setattr(retention, "prune_step", crash)
    with pytest.raises(RuntimeError, match=f"crashed at {stage}"):
        prune(store, parse_older_than("2w"))
    monkeypatch.undo()

    _as_before_then_prunes(store, before)


#: A child that prunes ``argv[1]`` 2 weeks back and SIGKILLs itself at stage ``argv[2]``,
#: inside the prune's transaction: no rollback, no close, no exit code of its own.
_KILLED_PRUNE = """
import os, signal, sys
from storemon.store import open_store, retention

def die(at):
    if at == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

retention.prune_step = die
retention.prune(open_store(sys.argv[1]), retention.parse_older_than("2w"))
"""


@pytest.mark.parametrize("stage", ["keepers", "dropped", "kept"])
def test_a_prune_killed_midway_leaves_the_database_as_it_was(
    store_url: str, tables: type[Tables], stage: str
) -> None:
    store = open_store(store_url)
    try:
        _loaded(store, tables, _polls(seed=6))
        before = _state(store)
    finally:
        store.close()  # DuckDB: one process holds the file

    child = subprocess.run(
        [sys.executable, "-c", _KILLED_PRUNE, store_url, stage],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr[-2000:]

    store = open_store(store_url)
    try:
        _as_before_then_prunes(store, before)
    finally:
        store.close()


def test_the_schedule_prunes_at_start(store: Store, tables: type[Tables]) -> None:
    _loaded(store, tables, _polls())
    schedule = retention.PruneSchedule(store, parse_older_than("2w"), interval_seconds=3600)
    schedule.start()
    try:
        for _ in range(200):
            if schedule.runs:
                break
            import time

            time.sleep(0.05)
    finally:
        schedule.stop()
    assert schedule.runs == 1
    assert schedule.last is not None
    assert schedule.last.removed > 0
    with pytest.raises(InvalidRequest):
        retention.PruneSchedule(store, parse_older_than("2d"), interval_seconds=60)
