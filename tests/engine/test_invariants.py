"""Properties that hold whatever the numbers: business time splits, partitions, interpolation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from engine_cases import Case, cases, hours_table, polls_table, zones_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import HoursRow, Poll

from storemon.engine import compute_report
from storemon.engine.hours import business_intervals
from storemon.engine.measure import WindowTotals, poll_totals, window_totals
from storemon.engine.polls import SameInstant, encode_polls, prepare_polls, sort_polls
from storemon.engine.report import WINDOWS
from storemon.engine.states import state_segments
from storemon.engine.zones import to_us
from storemon.schema import Interpolation

_SETTINGS = settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])


def _totals(case: Case, interpolation: Interpolation, as_of_us: int) -> list[WindowTotals]:
    polls, hours, zones = case.tables()
    arrays = prepare_polls(polls, as_of_us)
    starts = [as_of_us - length for _, length, _ in WINDOWS]
    intervals = business_intervals(hours, zones, arrays.store_ids, min(starts), as_of_us)
    return window_totals(
        state_segments(arrays, interpolation), intervals, arrays.n_stores, starts, as_of_us
    )


def _as_of_us(case: Case) -> int:
    return to_us(case.as_of) if case.as_of is not None else max(to_us(p.at) for p in case.polls)


@_SETTINGS
@given(cases(), st.sampled_from(["nearest", "previous"]))
def test_downtime_is_uptime_of_the_flipped_states(case: Case, interpolation: Interpolation) -> None:
    """Downtime is measured as active time with every state flipped, and business time is
    the overlap of the merged business intervals with the window."""
    as_of_us = _as_of_us(case)
    flipped = dataclasses.replace(
        case, polls=[dataclasses.replace(p, active=not p.active) for p in case.polls]
    )
    totals = _totals(case, interpolation, as_of_us)
    other = _totals(flipped, interpolation, as_of_us)
    polls, hours, zones = case.tables()
    arrays = prepare_polls(polls, as_of_us)
    week_start = as_of_us - WINDOWS[-1][1]
    intervals = business_intervals(hours, zones, arrays.store_ids, week_start, as_of_us)
    for (_, length, _), mine, theirs in zip(WINDOWS, totals, other, strict=True):
        assert np.array_equal(mine.inactive_hus, theirs.active_hus)
        lo = np.clip(intervals.start_us, as_of_us - length, as_of_us)
        hi = np.clip(intervals.end_us, as_of_us - length, as_of_us)
        business = np.bincount(intervals.store, weights=2 * (hi - lo), minlength=arrays.n_stores)
        assert np.array_equal(mine.business_hus, business.astype(np.int64))
        assert (mine.active_hus >= 0).all()
        assert (mine.inactive_hus >= 0).all()


@_SETTINGS
@given(cases(), st.sampled_from(["nearest", "previous"]), st.data())
def test_a_partition_gives_the_same_rows(
    case: Case, interpolation: Interpolation, data: st.DataObject
) -> None:
    polls, hours, zones = case.tables()
    as_of = case.as_of or max(p.at for p in case.polls)
    full = compute_report(polls, hours, zones, as_of=as_of, interpolation=interpolation)
    ids = sorted({p.store_id for p in case.polls})
    part = set(data.draw(st.lists(st.sampled_from(ids), unique=True)))
    sub = Case(
        [p for p in case.polls if p.store_id in part],
        [h for h in case.hours if h.store_id in part],
        [z for z in case.zones if z[0] in part],
        as_of,
    )
    partial = compute_report(*sub.tables(), as_of=as_of, interpolation=interpolation)
    expected = [row for row in full.table.to_pylist() if row["store_id"] in part]
    assert partial.table.to_pylist() == expected


@_SETTINGS
@given(cases())
def test_interpolations_agree_when_polls_are_repeated_densely(case: Case) -> None:
    """Repeat each poll every minute until the next one: nearest and previous then differ by
    at most 30 s per change of state."""
    as_of_us = _as_of_us(case)
    dense: list[Poll] = []
    changes: dict[str, int] = {}
    for store_id in {p.store_id for p in case.polls}:
        latest: dict[datetime, bool] = {}
        for p in case.polls:
            if p.store_id == store_id and to_us(p.at) <= as_of_us:
                latest[p.at] = p.active
        times = sorted(latest)
        changes[store_id] = sum(latest[a] != latest[b] for a, b in pairwise(times))
        for i, at in enumerate(times):
            stop = times[i + 1] if i + 1 < len(times) else at + timedelta(microseconds=1)
            step = at
            while step < stop:
                dense.append(Poll(store_id, step, latest[at]))
                step += timedelta(minutes=1)
    if not dense:
        return
    repeated = Case(dense, case.hours, case.zones, case.as_of)
    nearest = _totals(repeated, "nearest", as_of_us)
    previous = _totals(repeated, "previous", as_of_us)
    order = sorted({p.store_id for p in dense}, key=lambda s: s.encode())
    bound = np.array([changes[s] for s in order]) * 2 * 30_000_000
    for n, p in zip(nearest, previous, strict=True):
        assert np.array_equal(n.business_hus, p.business_hus)
        assert (np.abs(n.active_hus - p.active_hus) <= bound).all()


def test_the_later_row_wins_for_a_duplicate_instant() -> None:
    at = datetime(2023, 1, 23, 12, tzinfo=UTC)
    for states, up in (((True, False), 0.0), ((False, True), 168.0)):
        polls = polls_table([Poll("S", at, states[0]), Poll("S", at, states[1])])
        report = compute_report(polls, hours_table([]), zones_table([]))
        assert report.table.column("uptime_last_week").to_pylist() == [up]


def test_polls_outside_hours_and_windows_still_set_the_state() -> None:
    """A poll two weeks ago decides the state of the whole week before the next one."""
    as_of = datetime(2023, 1, 23, 12, tzinfo=UTC)
    polls = polls_table([Poll("S", as_of - timedelta(days=14), False), Poll("S", as_of, True)])
    hours = hours_table([HoursRow("S", 0, 0, 3_600_000_000)])  # Mondays 00:00-01:00 Chicago
    report = compute_report(polls, hours, zones_table([]), interpolation="previous")
    row = report.table.to_pylist()[0]
    assert (row["uptime_last_week"], row["downtime_last_week"]) == (0.0, 1.0)


@_SETTINGS
@given(cases(), st.sampled_from(["nearest", "previous"]), st.integers(1, 5))
def test_measuring_in_chunks_changes_nothing(
    case: Case, interpolation: Interpolation, chunk_rows: int
) -> None:
    as_of_us = _as_of_us(case)
    polls, hours, zones = case.tables()
    arrays = prepare_polls(polls, as_of_us)
    starts = [as_of_us - length for _, length, _ in WINDOWS]
    intervals = business_intervals(hours, zones, arrays.store_ids, min(starts), as_of_us)
    segments = state_segments(arrays, interpolation)
    whole = window_totals(segments, intervals, arrays.n_stores, starts, as_of_us)
    chunked = window_totals(
        segments, intervals, arrays.n_stores, starts, as_of_us, chunk_rows=chunk_rows
    )
    from_polls = poll_totals(
        arrays, intervals, interpolation, starts, as_of_us, chunk_rows=chunk_rows
    )
    for a, b, c in zip(whole, chunked, from_polls, strict=True):
        assert np.array_equal(a.business_hus, b.business_hus)
        assert np.array_equal(a.active_hus, b.active_hus)
        assert np.array_equal(a.business_hus, c.business_hus)
        assert np.array_equal(a.active_hus, c.active_hus)


@_SETTINGS
@given(cases(), st.integers(1, 3))
def test_dictionary_typed_and_chunked_ids_give_the_same_report(case: Case, pieces: int) -> None:
    """store_id as a dictionary column (chunks with their own dictionaries) changes nothing."""
    polls, hours, zones = case.tables()
    plain = compute_report(polls, hours, zones, as_of=case.as_of)
    size = -(-polls.num_rows // pieces) or 1
    chunks = [polls.slice(i, size) for i in range(0, polls.num_rows, size)] or [polls]
    coded = pa.concat_tables(
        [c.set_column(0, "store_id", pc.dictionary_encode(c.column("store_id"))) for c in chunks]
    )
    other = compute_report(coded, hours, zones, as_of=case.as_of)
    assert other.table.equals(plain.table)
    assert other.as_of == plain.as_of


@_SETTINGS
@given(
    cases(),
    st.sampled_from(["nearest", "previous"]),
    st.integers(1, 7),
    st.sampled_from([1, 2, 3]),
)
def test_chunks_of_stores_and_threads_change_nothing(
    case: Case, interpolation: Interpolation, chunk_rows: int, workers: int
) -> None:
    """compute_report split into chunks of a few polls (whole stores), on 1 to 3 threads."""
    polls, hours, zones = case.tables()
    whole = compute_report(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, workers=1
    )
    chunked = compute_report(
        polls,
        hours,
        zones,
        as_of=case.as_of,
        interpolation=interpolation,
        workers=workers,
        chunk_rows=chunk_rows,
    )
    assert chunked.table.equals(whole.table)
    assert chunked.as_of == whole.as_of


@pytest.mark.parametrize("duplicate", [False, True])
@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
def test_chunks_cut_only_between_stores(duplicate: bool, chunk_rows: int) -> None:
    """Many polls of few stores, some duplicated (the later row wins): any chunk size."""
    at = datetime(2023, 1, 23, 12, tzinfo=UTC)
    rows = [
        Poll(s, at - timedelta(minutes=37 * k), (k + len(s)) % 3 > 0)
        for s in "ABC"
        for k in range(9)
    ]
    if duplicate:
        rows += [Poll("B", at - timedelta(minutes=37 * 4), True), Poll("B", at, False)]
    polls = polls_table(rows)
    one = compute_report(polls, hours_table([]), zones_table([]), chunk_rows=1 << 20, workers=1)
    many = compute_report(polls, hours_table([]), zones_table([]), chunk_rows=chunk_rows)
    assert many.table.equals(one.table)
    assert one.table.num_rows == 3
    as_of_us = to_us(at)
    whole = prepare_polls(polls, as_of_us)
    encoded = encode_polls(polls, as_of_us)
    chunks = sort_polls(encoded, chunk_rows)
    if duplicate:  # the packed keys cannot tell the later row: that chunk says so
        with pytest.raises(SameInstant):
            [c.arrays() for c in chunks]
        chunks = sort_polls(encoded, chunk_rows, by_row=True)
    assert [c.first for c in chunks[1:]] == [c.stop for c in chunks[:-1]]
    parts = [c.arrays() for c in chunks]
    assert all(a.n_stores == c.stop - c.first for a, c in zip(parts, chunks, strict=True))
    assert np.array_equal(
        np.concatenate([a.store + c.first for a, c in zip(parts, chunks, strict=True)]),
        whole.store,
    )
    assert np.array_equal(np.concatenate([a.time_us for a in parts]), whole.time_us)
    assert np.array_equal(np.concatenate([a.active for a in parts]), whole.active)


@pytest.mark.parametrize("duplicate", [False, True])
@pytest.mark.parametrize(
    ("n_stores", "old"),
    [
        (5000, datetime(1970, 1, 1, tzinfo=UTC)),  # a device clock reset to the epoch
        (200, datetime(1, 1, 1, tzinfo=UTC)),  # the widest span there is
    ],
)
def test_one_very_old_poll_changes_nothing(n_stores: int, old: datetime, duplicate: bool) -> None:
    """(store, time since the first poll) no longer fits one int64 key: the polls are
    still sorted and de-duplicated right, and the old poll is far from every window."""
    at = datetime(2023, 1, 23, 12, tzinfo=UTC)
    rows = [
        Poll(f"{s:05d}", at - timedelta(minutes=s % 97 + 60 * k), (s + k) % 3 > 0)
        for s in range(n_stores)
        for k in range(2)
    ]
    if duplicate:  # the later row wins
        rows.append(Poll(rows[-1].store_id, rows[-1].at, not rows[-1].active))
    recent = compute_report(polls_table(rows), hours_table([]), zones_table([]), as_of=at)
    rows.insert(0, Poll(f"{n_stores - 1:05d}", old, True))
    with_old = compute_report(polls_table(rows), hours_table([]), zones_table([]), as_of=at)
    assert with_old.table.equals(recent.table)
    assert recent.table.num_rows == n_stores
