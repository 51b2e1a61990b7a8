"""A sample of the real data set (13 stores, read by ingest): engine == reference, both modes."""

from __future__ import annotations

from pathlib import Path

import pytest
from reference import HoursRow, Poll, reference_report

from storemon.engine import compute_report
from storemon.ingest.csv import read_source
from storemon.schema import Interpolation

DATA = Path(__file__).parent.parent / "data" / "engine"


@pytest.mark.parametrize("interpolation", ["nearest", "previous"])
def test_real_sample_matches_reference(interpolation: Interpolation) -> None:
    polls = read_source("status", DATA / "real_status.csv").table
    hours = read_source("hours", DATA / "real_menu_hours.csv").table
    zones = read_source("timezones", DATA / "real_timezones.csv").table
    report = compute_report(polls, hours, zones, interpolation=interpolation)
    expected = reference_report(
        [Poll(r["store_id"], r["timestamp_utc"], r["active"]) for r in polls.to_pylist()],
        [
            HoursRow(r["store_id"], r["day_of_week"], r["start_local_us"], r["end_local_us"])
            for r in hours.to_pylist()
        ],
        [(r["store_id"], r["timezone_str"]) for r in zones.to_pylist()],
        None,
        interpolation,
    )
    got = [tuple(row.values()) for row in report.table.to_pylist()]
    assert len(got) == 13
    assert got == expected
    # Not all the same: stores with and without downtime, with and without hours.
    assert len({row[3] for row in got}) > 5
