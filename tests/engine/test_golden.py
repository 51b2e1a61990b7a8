"""SPEC.md's worked example, exact CSV text, both interpolations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from engine_cases import H, M, hours_table, polls_table, zones_table
from reference import HoursRow, Poll

from storemon.engine import compute_report, report_csv
from storemon.errors import InvalidRequest
from storemon.schema import Interpolation

DATA = Path(__file__).parent.parent / "data" / "engine"


def _spec_example(interpolation: Interpolation) -> bytes:
    polls = polls_table(
        [
            Poll("S", datetime(2023, 1, 23, 15, 14, tzinfo=UTC), True),  # 10:14 New York
            Poll("S", datetime(2023, 1, 23, 16, 15, tzinfo=UTC), False),  # 11:15 New York
        ]
    )
    hours = hours_table([HoursRow("S", 0, 9 * H, 12 * H)])
    zones = zones_table([("S", "America/New_York")])
    as_of = datetime(2023, 1, 23, 17, 0, tzinfo=UTC)
    report = compute_report(polls, hours, zones, as_of=as_of, interpolation=interpolation)
    assert report.as_of == as_of
    return report_csv(report.table)


@pytest.mark.parametrize("interpolation", ["nearest", "previous"])
def test_spec_worked_example(interpolation: Interpolation) -> None:
    expected = (DATA / f"spec_example_{interpolation}.csv").read_bytes()
    assert _spec_example(interpolation) == expected


def test_spec_example_text() -> None:
    """The golden files say what SPEC.md says (guards against a regenerated golden file)."""
    assert _spec_example("nearest").endswith(b"\nS,0.00,1.74,1.74,60.00,1.26,1.26\n")
    assert _spec_example("previous").endswith(b"\nS,15.00,2.25,2.25,45.00,0.75,0.75\n")


def test_csv_quotes_only_when_needed_and_sorts_by_bytes() -> None:
    at = datetime(2023, 1, 23, 12, tzinfo=UTC)
    ids = ["b", "a,b", "0042", "42", 'q"x', "Z", "é", "store-7a"]
    report = compute_report(polls_table([Poll(i, at, True) for i in ids]), *_no_settings())
    lines = report_csv(report.table).decode().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == [
        "0042",
        "42",
        "Z",
        '"a',
        "b",
        '"q""x"',
        "store-7a",
        "é",
    ]
    assert lines[4] == '"a,b",60.00,24.00,168.00,0.00,0.00,0.00'


def test_rounding_is_half_up_on_the_exact_duration() -> None:
    """24x7 store in UTC: inactive then active. Active 30.3 s = 0.505 min → 0.51 (half up)."""
    as_of = datetime(2023, 1, 23, 12, tzinfo=UTC)
    start = as_of.timestamp() * 1_000_000
    polls = polls_table(
        [
            Poll("S", datetime.fromtimestamp((start - 60 * M) / 1e6, UTC), False),
            # previous: active for the last 30.3 s
            Poll("S", datetime.fromtimestamp((start - 30_300_000) / 1e6, UTC), True),
        ]
    )
    report = compute_report(polls, *_no_settings(), as_of=as_of, interpolation="previous")
    row = report.table.to_pylist()[0]
    assert row["uptime_last_hour"] == 0.51
    assert row["downtime_last_hour"] == 59.5  # 59.495 min → 59.50
    assert (
        report_csv(report.table).decode().splitlines()[1] == "S,0.51,0.01,0.01,59.50,23.99,167.99"
    )


def test_no_polls_gives_an_empty_report() -> None:
    report = compute_report(polls_table([]), *_no_settings())
    assert report.as_of is None
    assert report.table.num_rows == 0
    assert report_csv(report.table) == (
        b"store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
        b"downtime_last_hour,downtime_last_day,downtime_last_week\n"
    )


def test_polls_only_after_as_of_give_an_empty_report() -> None:
    at = datetime(2023, 1, 23, 12, tzinfo=UTC)
    report = compute_report(
        polls_table([Poll("S", at, True)]), *_no_settings(), as_of=datetime(2023, 1, 1)
    )
    assert report.as_of is None
    assert report.table.num_rows == 0


def _no_settings() -> tuple[object, object]:
    return hours_table([]), zones_table([])


def test_unknown_interpolation_is_an_invalid_request() -> None:
    at = datetime(2023, 1, 23, 12, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="use 'nearest' or 'previous'"):
        compute_report(polls_table([Poll("S", at, True)]), *_no_settings(), interpolation="linear")  # type: ignore[arg-type]
