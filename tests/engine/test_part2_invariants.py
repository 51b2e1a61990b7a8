"""Properties of the Part 2 outputs that hold whatever the numbers (SPEC Part 2, issue 8).

- the outage list's durations sum to the downtime (exactly, per store and window);
- the profile's downtime sums to the fleet's week downtime; its business time to the
  business time;
- ``longest_outage <= downtime``; ``outages == 0`` exactly when the (exact) downtime is 0;
- under ``exclude``, uptime + downtime + unobserved is the business time;
- chunking, threads and partitions of the stores change nothing (the profile of a
  partition is the sum of the parts' profiles);
- a store's timeline holds the same outages as the outage list.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
from engine_cases import Case, cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import us

from storemon.engine import compute_report
from storemon.engine.options import ReportOptions, parse_window, parse_windows
from storemon.engine.outages import compute_outages
from storemon.engine.profile import add_profiles, compute_profile
from storemon.engine.timeline import store_timeline
from storemon.schema import Interpolation

_SETTINGS = settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
interpolations = st.sampled_from(["nearest", "previous"])
window_texts = st.sampled_from(["1m", "45m", "1h", "3h", "24h", "36h", "168h", "2w", "366d"])


def _durations_by_store(table: pa.Table) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in table.to_pylist():
        out[row["store_id"]] = out.get(row["store_id"], 0) + row["end_hus"] - row["start_hus"]
    return out


def _hundredths(hus: int, unit_us: int) -> float:
    return ((hus * 100 + unit_us) // (2 * unit_us)) / 100


@_SETTINGS
@given(cases(), interpolations, window_texts)
def test_outages_sum_to_downtime_and_bound_it(
    case: Case, interpolation: Interpolation, text: str
) -> None:
    window = parse_window(text)
    polls, hours, zones = case.tables()
    options = ReportOptions(windows=(window,), extended=True)
    report = compute_report(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, options=options
    )
    listed = compute_outages(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, window=window
    )
    exact = _durations_by_store(listed.table)
    counts: dict[str, int] = {}
    for row in listed.table.to_pylist():
        counts[row["store_id"]] = counts.get(row["store_id"], 0) + 1
    for row in report.table.to_pylist():
        store_id, name = row["store_id"], window.name
        down_hus = exact.get(store_id, 0)
        assert row[f"downtime_{name}"] == _hundredths(down_hus, window.unit_us)
        assert row[f"outages_{name}"] == counts.get(store_id, 0)
        assert (row[f"outages_{name}"] == 0) == (down_hus == 0)
        assert row[f"longest_outage_{name}"] <= row[f"downtime_{name}"]


@_SETTINGS
@given(cases(), interpolations, st.sampled_from(["1h", "24h", "168h", "2w"]))
def test_profile_sums_to_the_report(case: Case, interpolation: Interpolation, text: str) -> None:
    window = parse_window(text)
    polls, hours, zones = case.tables()
    profile = compute_profile(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, window=window
    )
    listed = compute_outages(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, window=window
    )
    assert int(profile.totals.inactive_hus.sum()) == sum(_durations_by_store(listed.table).values())
    report = compute_report(
        polls,
        hours,
        zones,
        as_of=case.as_of,
        interpolation=interpolation,
        options=ReportOptions(windows=(window,)),
    )
    assert (profile.totals.active_hus >= 0).all()
    assert (profile.totals.inactive_hus >= 0).all()
    assert int(profile.totals.stores_open.max(initial=0)) <= report.table.num_rows
    rows = profile.table()
    assert rows.num_rows == 168
    assert rows.column("day_of_week").to_pylist() == [d for d in range(7) for _ in range(24)]


@_SETTINGS
@given(cases(), interpolations, st.sampled_from(["30m", "24h", "168h", "30d"]), st.data())
def test_exclude_splits_business_time_in_three(
    case: Case, interpolation: Interpolation, text: str, data: st.DataObject
) -> None:
    """Exact: (excluded up + down + unobserved) == (extrapolated up + down), per store."""
    window = parse_window(text)
    within = data.draw(st.integers(1, 600)) * 60_000_000
    polls, hours, zones = case.tables()

    def run(policy: str) -> list[dict[str, object]]:
        options = ReportOptions(
            windows=(window,), extended=True, observed_within_us=within, unobserved=policy
        )
        return compute_report(
            polls, hours, zones, as_of=case.as_of, interpolation=interpolation, options=options
        ).table.to_pylist()

    for extra, excl in zip(run("extrapolate"), run("exclude"), strict=True):
        name = window.name
        assert extra["unobserved_" + name] == excl["unobserved_" + name]
        assert extra["outages_" + name] == excl["outages_" + name]  # outages ignore the policy
        total_extra = extra["uptime_" + name] + extra["downtime_" + name]  # type: ignore[operator]
        total_excl = (
            excl["uptime_" + name] + excl["downtime_" + name] + excl["unobserved_" + name]  # type: ignore[operator]
        )
        assert abs(total_extra - total_excl) <= 0.03  # each value is rounded on its own
        assert excl["uptime_" + name] <= extra["uptime_" + name]  # type: ignore[operator]
        assert excl["downtime_" + name] <= extra["downtime_" + name]  # type: ignore[operator]


@_SETTINGS
@given(cases(), interpolations, st.data())
def test_chunks_threads_and_partitions_change_nothing(
    case: Case, interpolation: Interpolation, data: st.DataObject
) -> None:
    polls, hours, zones = case.tables()
    options = ReportOptions(
        windows=parse_windows(data.draw(st.sampled_from(["1h,24h,168h", "30m,2w", "366d"]))),
        extended=True,
        unobserved=data.draw(st.sampled_from(["extrapolate", "exclude"])),
    )
    window = options.windows[-1]
    chunk_rows = data.draw(st.integers(1, 7))
    workers = data.draw(st.integers(1, 3))
    kwargs = {"as_of": case.as_of, "interpolation": interpolation}
    whole = compute_report(polls, hours, zones, options=options, **kwargs)  # type: ignore[arg-type]
    split = compute_report(
        polls,
        hours,
        zones,
        options=options,
        chunk_rows=chunk_rows,
        workers=workers,
        **kwargs,  # type: ignore[arg-type]
    )
    assert split.table.equals(whole.table)
    out_whole = compute_outages(polls, hours, zones, window=window, **kwargs)  # type: ignore[arg-type]
    out_split = compute_outages(
        polls,
        hours,
        zones,
        window=window,
        chunk_rows=chunk_rows,
        workers=workers,
        **kwargs,  # type: ignore[arg-type]
    )
    assert out_split.table.equals(out_whole.table)
    profile = compute_profile(polls, hours, zones, window=window, **kwargs)  # type: ignore[arg-type]
    ids = sorted({p.store_id for p in case.polls})
    part = set(data.draw(st.lists(st.sampled_from(ids), unique=True)))
    as_of = case.as_of or max(p.at for p in case.polls)
    halves = []
    for chosen in (part, set(ids) - part):
        sub = dataclasses.replace(case, polls=[p for p in case.polls if p.store_id in chosen])
        sub_polls, _, _ = sub.tables()
        got = compute_profile(
            sub_polls, hours, zones, as_of=as_of, interpolation=interpolation, window=window
        )
        halves.append(got.totals)
    total = add_profiles(halves)
    assert np.array_equal(total.business_hus, profile.totals.business_hus)
    assert np.array_equal(total.active_hus, profile.totals.active_hus)
    assert np.array_equal(total.stores_open, profile.totals.stores_open)


@_SETTINGS
@given(cases(), interpolations, window_texts)
def test_timeline_agrees_with_the_outage_list(
    case: Case, interpolation: Interpolation, text: str
) -> None:
    window = parse_window(text)
    polls, hours, zones = case.tables()
    listed = compute_outages(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, window=window
    ).table.to_pylist()
    as_of_us = us(case.as_of) if case.as_of is not None else max(us(p.at) for p in case.polls)
    for store_id in sorted({p.store_id for p in case.polls}):
        if not any(us(p.at) <= as_of_us for p in case.polls if p.store_id == store_id):
            continue
        timeline = store_timeline(
            polls,
            hours,
            zones,
            store_id=store_id,
            as_of=case.as_of,
            interpolation=interpolation,
            window=window,
        )
        mine = [
            (r["start_hus"], r["end_hus"], r["ongoing"])
            for r in listed
            if r["store_id"] == store_id
        ]
        got = list(
            zip(
                timeline.outages.start_hus.tolist(),
                timeline.outages.end_hus.tolist(),
                timeline.outages.flag.tolist(),
                strict=True,
            )
        )
        assert got == mine
        lo, hi = 2 * timeline.start_us, 2 * timeline.end_us
        states = timeline.states
        assert states.start_hus[0] == lo  # the window is covered
        assert states.end_hus[-1] == hi
        assert np.array_equal(states.start_hus[1:], states.end_hus[:-1])
        assert (states.flag[1:] != states.flag[:-1]).all()  # runs of one state are joined
        for start, end in zip(timeline.outages.start_hus, timeline.outages.end_hus, strict=True):
            inside = (timeline.business.start_hus <= start) & (end <= timeline.business.end_hus)
            assert inside.any()  # an outage lies within one business interval
        assert ((timeline.poll_us >= timeline.start_us) & (timeline.poll_us <= as_of_us)).all()


@_SETTINGS
@given(cases(), interpolations, st.integers(1, 3000))
def test_stale_stores_are_those_wholly_unobserved(
    case: Case, interpolation: Interpolation, minutes: int
) -> None:
    """A stale store (no poll within observed_within of the longest window) has its whole
    business time in every window unobserved; a store that is not stale has a poll there."""
    polls, hours, zones = case.tables()
    options = ReportOptions(extended=True, observed_within_us=minutes * 60_000_000)
    report = compute_report(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, options=options
    )
    stale = set(report.stale_store_ids.to_pylist())
    assert report.as_of is not None or not stale
    for row in report.table.to_pylist():
        if row["store_id"] in stale:
            business = row["uptime_last_week"] + row["downtime_last_week"]
            assert abs(row["unobserved_last_week"] - business) <= 0.02
    if report.as_of is not None:
        cut = us(report.as_of) - 168 * 3_600_000_000 - minutes * 60_000_000
        recent = {p.store_id for p in case.polls if cut <= us(p.at) <= us(report.as_of)}
        assert stale == set(report.table.column("store_id").to_pylist()) - recent
