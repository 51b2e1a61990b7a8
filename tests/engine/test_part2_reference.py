"""SPEC Part 2 — windows, extended columns, the outage list, the profile — equals the slow
reference (reference_part2.py) exactly, on the same nasty generated stores as Part 1."""

from __future__ import annotations

from fractions import Fraction

import reference_part2 as ref
from engine_cases import Case, cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import us

from storemon.engine import compute_report
from storemon.engine.options import MINUTE_US, ReportOptions, Window, parse_window
from storemon.engine.outages import compute_outages
from storemon.engine.profile import compute_profile
from storemon.schema import Interpolation

_SETTINGS = settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])

_WINDOW_TEXTS = ["1m", "7m", "30m", "1h", "60m", "90m", "2h", "24h", "1d", "36h", "168h", "1w"]
_LONG = ["2w", "30d", "366d", "52w"]
windows = st.one_of(
    st.sampled_from(_WINDOW_TEXTS),
    st.sampled_from(_LONG),
    st.builds(lambda n, u: f"{n}{u}", st.integers(1, 200), st.sampled_from("mhd")),
)
observed_within = st.one_of(
    st.sampled_from([1, 15, 30, 60, 61, 90, 120, 240, 1440]),
    st.integers(1, 20_000),
    st.floats(0.001, 300.0),
)


def _as_of_us(case: Case) -> int:
    return us(case.as_of) if case.as_of is not None else max(us(p.at) for p in case.polls)


def _ref_window(window: Window) -> ref.RefWindow:
    return ref.RefWindow(window.name, window.length_us, window.unit_us)


@st.composite
def _options(draw: st.DrawFn) -> ReportOptions:
    texts = draw(st.lists(windows, min_size=1, max_size=4))
    chosen: dict[str, Window] = {}
    for text in texts:
        window = parse_window(text)
        chosen.setdefault(window.name, window)
    minutes = draw(observed_within)
    return ReportOptions(
        windows=tuple(chosen.values()),
        extended=draw(st.booleans()),
        observed_within_us=max(round(minutes * MINUTE_US), 1),
        unobserved=draw(st.sampled_from(["extrapolate", "exclude"])),
    )


@_SETTINGS
@given(cases(), st.sampled_from(["nearest", "previous"]), _options())
def test_report_with_any_windows_and_extended_columns(
    case: Case, interpolation: Interpolation, options: ReportOptions
) -> None:
    polls, hours, zones = case.tables()
    report = compute_report(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, options=options
    )
    now = _as_of_us(case)
    inputs = ref.stores(case.polls, case.hours, case.zones, now, options.longest_us)
    expected = []
    for store_id in sorted(inputs, key=lambda s: s.encode()):
        figures = [
            ref.window_figures(
                inputs[store_id],
                now,
                _ref_window(w),
                interpolation,
                options.observed_within_us,
                options.unobserved,
            )
            for w in options.windows
        ]
        pairs = list(zip(figures, options.windows, strict=True))
        row: list[object] = [store_id]
        row += [ref.rounded(f.up, w.unit_us) for f, w in pairs]
        row += [ref.rounded(f.down, w.unit_us) for f, w in pairs]
        if options.extended:
            row += [ref.rounded(f.unobserved, w.unit_us) for f, w in pairs]
            row += [f.outages for f in figures]
            row += [ref.rounded(f.longest, w.unit_us) for f, w in pairs]
        expected.append(tuple(row))
    got = [tuple(row.values()) for row in report.table.to_pylist()]
    assert got == expected
    names = report.table.column_names
    assert names[0] == "store_id"
    assert names[1 : 1 + len(options.windows)] == [f"uptime_{w.name}" for w in options.windows]


@_SETTINGS
@given(cases(), st.sampled_from(["nearest", "previous"]), windows)
def test_outage_list(case: Case, interpolation: Interpolation, text: str) -> None:
    window = parse_window(text)
    polls, hours, zones = case.tables()
    found = compute_outages(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, window=window
    )
    now = _as_of_us(case)
    inputs = ref.stores(case.polls, case.hours, case.zones, now, window.length_us)
    expected = [
        (store_id, 2 * start, 2 * end, ongoing)
        for store_id, start, end, ongoing in ref.outage_list(
            inputs, now, window.length_us, interpolation
        )
    ]
    got = [
        (r["store_id"], Fraction(r["start_hus"]), Fraction(r["end_hus"]), r["ongoing"])
        for r in found.table.to_pylist()
    ]
    assert got == expected


_PROFILE_WINDOWS = ["1m", "30m", "1h", "5h", "24h", "36h", "168h", "2w"]


@_SETTINGS
@given(cases(), st.sampled_from(["nearest", "previous"]), st.sampled_from(_PROFILE_WINDOWS))
def test_profile(case: Case, interpolation: Interpolation, text: str) -> None:
    window = parse_window(text)
    polls, hours, zones = case.tables()
    profile = compute_profile(
        polls, hours, zones, as_of=case.as_of, interpolation=interpolation, window=window
    )
    now = _as_of_us(case)
    inputs = ref.stores(case.polls, case.hours, case.zones, now, window.length_us)
    expected = ref.profile(inputs, now, window.length_us, interpolation)
    totals = profile.totals
    got = [
        (
            int(totals.stores_open[b]),
            Fraction(int(totals.business_hus[b]), 2),
            Fraction(int(totals.active_hus[b]), 2),
            Fraction(int(totals.inactive_hus[b]), 2),
        )
        for b in range(168)
    ]
    assert got == expected
