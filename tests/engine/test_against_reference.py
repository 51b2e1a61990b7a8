"""compute_report equals the slow reference exactly (same rounded numbers), on generated stores."""

from __future__ import annotations

from fractions import Fraction

from engine_cases import Case, cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import reference_report, reference_totals

from storemon.engine import compute_report
from storemon.engine.hours import business_intervals
from storemon.engine.measure import window_totals
from storemon.engine.polls import prepare_polls
from storemon.engine.report import WINDOWS
from storemon.engine.states import state_segments
from storemon.schema import Interpolation

_SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def _check(case: Case, interpolation: Interpolation) -> None:
    polls, hours, zones = case.tables()
    report = compute_report(polls, hours, zones, as_of=case.as_of, interpolation=interpolation)
    expected = reference_report(case.polls, case.hours, case.zones, case.as_of, interpolation)
    got = [tuple(row.values()) for row in report.table.to_pylist()]
    assert got == expected
    if expected:
        assert report.as_of is not None
        assert report.as_of.utcoffset() is not None
    else:
        assert report.as_of is None


@_SETTINGS
@given(cases())
def test_nearest_matches_reference(case: Case) -> None:
    _check(case, "nearest")


@_SETTINGS
@given(cases())
def test_previous_matches_reference(case: Case) -> None:
    _check(case, "previous")


def _exact(case: Case, interpolation: Interpolation) -> None:
    now, expected = reference_totals(case.polls, case.hours, case.zones, case.as_of, interpolation)
    if now is None:
        return
    polls, hours, zones = case.tables()
    arrays = prepare_polls(polls, now)
    starts = [now - length for _, length, _ in WINDOWS]
    intervals = business_intervals(hours, zones, arrays.store_ids, min(starts), now)
    segments = state_segments(arrays, interpolation)
    totals = window_totals(segments, intervals, arrays.n_stores, starts, now)
    for s, store_id in enumerate(arrays.store_ids.to_pylist()):
        got = [
            (Fraction(int(t.active_hus[s]), 2), Fraction(int(t.inactive_hus[s]), 2)) for t in totals
        ]
        assert got == expected[store_id], store_id


@_SETTINGS
@given(cases(), st.sampled_from(["nearest", "previous"]))
def test_exact_durations_match_reference(case: Case, interpolation: Interpolation) -> None:
    """Before rounding: the engine's half-microsecond totals equal the reference's fractions."""
    _exact(case, interpolation)
