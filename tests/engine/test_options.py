"""Windows and report options: SPEC Part 2's names and units; bad values say what to write."""

from __future__ import annotations

import pytest

from storemon.engine.options import (
    DEFAULT_WINDOWS,
    ReportOptions,
    parse_window,
    parse_windows,
    report_options,
)
from storemon.errors import InvalidRequest

H = 3_600_000_000
M = 60_000_000


@pytest.mark.parametrize(
    ("text", "name", "length", "unit"),
    [
        ("1h", "last_hour", H, M),
        ("60m", "last_hour", H, M),
        ("24h", "last_day", 24 * H, H),
        ("1d", "last_day", 24 * H, H),
        ("1440m", "last_day", 24 * H, H),
        ("168h", "last_week", 168 * H, H),
        ("1W", "last_week", 168 * H, H),
        ("30d", "last_30d", 30 * 24 * H, H),
        (" 30D ", "last_30d", 30 * 24 * H, H),
        ("30m", "last_30m", 30 * M, M),
        ("61m", "last_61m", 61 * M, H),
        ("366d", "last_366d", 366 * 24 * H, H),
        ("52w", "last_52w", 52 * 168 * H, H),
    ],
)
def test_names_and_units(text: str, name: str, length: int, unit: int) -> None:
    window = parse_window(text)
    assert (window.name, window.length_us, window.unit_us) == (name, length, unit)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0h", "is empty: give a positive length"),
        ("5x", "not understood: write a positive whole number and a unit m, h, d or w"),
        ("400d", "longer than the longest allowed, 366 days"),
        ("53w", "longer than the longest allowed"),
        ("1.5h", "not understood"),
        ("-1h", "not understood"),
        ("h", "not understood"),
        ("", "not understood"),
    ],
)
def test_bad_windows_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(InvalidRequest, match=says):
        parse_window(text)


def test_a_list_keeps_its_order_and_refuses_one_window_twice() -> None:
    assert [w.name for w in parse_windows("168h,1h,30d")] == ["last_week", "last_hour", "last_30d"]
    assert parse_windows("1h,24h,168h") == DEFAULT_WINDOWS
    with pytest.raises(InvalidRequest, match=r"'1h' and '60m' both give the columns \*_last_hour"):
        parse_windows("1h,60m")
    with pytest.raises(InvalidRequest, match="no window given"):
        parse_windows(" , ")


def test_canonical_json_shares_jobs_that_give_the_same_output() -> None:
    assert ReportOptions().to_json() == "{}"
    assert report_options(windows="60m,1d,1w").to_json() == "{}"
    same = report_options(windows="1d,30d", extended=True, observed_within_minutes=90.0)
    other = report_options(windows="24h,30d", extended=True, observed_within_minutes=90)
    assert same.to_json() == other.to_json()
    assert same.to_json() == (
        '{"extended":true,"observed_within_minutes":90,"windows":["24h","30d"]}'
    )
    assert report_options(windows="720h").to_json() != report_options(windows="30d").to_json()
    assert ReportOptions.from_json(same.to_json()) == same
    assert ReportOptions.from_json("{}") == ReportOptions()
    half = report_options(observed_within_minutes=0.5, unobserved="exclude")
    assert ReportOptions.from_json(half.to_json()) == half


@pytest.mark.parametrize("minutes", [0, -5, float("nan"), float("inf"), "60", True, 10**9])
def test_observed_within_must_be_a_positive_number_of_minutes(minutes: object) -> None:
    with pytest.raises(InvalidRequest, match="observed_within"):
        report_options(observed_within_minutes=minutes)


def test_unknown_policy() -> None:
    with pytest.raises(InvalidRequest, match=r"use 'extrapolate'.*or 'exclude'"):
        report_options(unobserved="ignore")
