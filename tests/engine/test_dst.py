"""Hand-computed cases: 23- and 25-hour days, gaps, repeated hours, odd offsets, the 23:59 rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from engine_cases import H, M, hours_table, polls_table, zones_table
from reference import HoursRow, Poll

from storemon.engine import compute_report

S = 1_000_000
SUNDAY, MONDAY = 6, 0


def _row(zone: str, rows: list[tuple[int, int, int]], as_of: datetime) -> dict[str, object]:
    """The report row of one always-active store with these hours in this zone."""
    polls = polls_table([Poll("S", as_of - timedelta(days=30), True)])
    hours = hours_table([HoursRow("S", day, start, end) for day, start, end in rows])
    report = compute_report(polls, hours, zones_table([("S", zone)]), as_of=as_of)
    (row,) = report.table.to_pylist()
    assert row["downtime_last_week"] == 0
    return row


@pytest.mark.parametrize(
    ("zone", "rows", "as_of", "week_hours"),
    [
        # 25-hour day: New York falls back on Sunday 2023-11-05; 00:00 to 00:00 next day.
        ("America/New_York", [(SUNDAY, 0, 0)], datetime(2023, 11, 6, 12, tzinfo=UTC), 25.0),
        # 23-hour day: New York springs forward on Sunday 2023-03-12.
        ("America/New_York", [(SUNDAY, 0, 0)], datetime(2023, 3, 13, 12, tzinfo=UTC), 23.0),
        # Start in the gap: 02:30 does not exist; fold=0 takes EST: 07:30 UTC to 08:00 UTC.
        (
            "America/New_York",
            [(SUNDAY, 150 * M, 4 * H)],
            datetime(2023, 3, 13, 12, tzinfo=UTC),
            0.5,
        ),
        # End in the gap: 01:00 EST (06:00 UTC) to 02:30 with EST (07:30 UTC).
        (
            "America/New_York",
            [(SUNDAY, 1 * H, 150 * M)],
            datetime(2023, 3, 13, 12, tzinfo=UTC),
            1.5,
        ),
        # Start in the repeated hour: 01:30 is its first occurrence (EDT, 05:30 UTC) to
        # 03:00 EST (08:00 UTC).
        (
            "America/New_York",
            [(SUNDAY, 90 * M, 3 * H)],
            datetime(2023, 11, 6, 12, tzinfo=UTC),
            2.5,
        ),
        # Lord Howe's 30-minute DST ends on Sunday 2023-04-02: a 24.5-hour day.
        ("Australia/Lord_Howe", [(SUNDAY, 0, 0)], datetime(2023, 4, 3, tzinfo=UTC), 24.5),
        # ...and starts on Sunday 2023-10-01: a 23.5-hour day.
        ("Australia/Lord_Howe", [(SUNDAY, 0, 0)], datetime(2023, 10, 2, tzinfo=UTC), 23.5),
        # Chatham (+13:45 in summer) springs forward on Sunday 2023-09-24 at 02:45.
        ("Pacific/Chatham", [(SUNDAY, 0, 0)], datetime(2023, 9, 25, tzinfo=UTC), 23.0),
        # 00:00-23:59 is the whole day; 23:59:30-23:59:10 is [23:59:30, 24:00).
        ("UTC", [(MONDAY, 0, (23 * 60 + 59) * M)], datetime(2023, 1, 24, tzinfo=UTC), 24.0),
        # Overnight 22:00-02:00 and 24-hour 09:00-09:00 (merged: 09:00 Mon to 09:00 Tue).
        (
            "UTC",
            [(MONDAY, 22 * H, 2 * H), (MONDAY, 9 * H, 9 * H)],
            datetime(2023, 1, 24, 12, tzinfo=UTC),
            24.0,
        ),
    ],
)
def test_business_day_lengths(
    zone: str, rows: list[tuple[int, int, int]], as_of: datetime, week_hours: float
) -> None:
    assert _row(zone, rows, as_of)["uptime_last_week"] == week_hours


def test_kathmandu_quarter_hour_offset() -> None:
    """+05:45: Monday 09:00-17:00 is 03:15-11:15 UTC."""
    row = _row("Asia/Kathmandu", [(MONDAY, 9 * H, 17 * H)], datetime(2023, 1, 23, 11, tzinfo=UTC))
    assert row["uptime_last_hour"] == 60.0
    assert row["uptime_last_day"] == 7.75  # 03:15-11:00 today
    assert row["uptime_last_week"] == 8.0  # plus 11:00-11:15 of last Monday


def test_end_just_before_midnight_is_midnight() -> None:
    row = _row(
        "UTC",
        [(MONDAY, (23 * 60 + 59) * M + 30 * S, (23 * 60 + 59) * M + 10 * S)],
        datetime(2023, 1, 24, tzinfo=UTC),
    )
    assert row["uptime_last_hour"] == 0.5  # 30 seconds
    assert row["uptime_last_week"] == 0.01


def test_store_without_zone_uses_chicago_and_without_hours_is_open_all_week() -> None:
    as_of = datetime(2023, 1, 23, 16, tzinfo=UTC)  # 10:00 in Chicago
    polls = polls_table([Poll("A", as_of, True), Poll("B", as_of, True)])
    hours = hours_table([HoursRow("A", MONDAY, 9 * H, 12 * H)])
    report = compute_report(polls, hours, zones_table([("B", "Asia/Tokyo")]), as_of=as_of)
    a, b = report.table.to_pylist()
    # 09:00-10:00 today, and 10:00-12:00 of last Monday (the week starts 16:00 UTC then)
    assert (a["uptime_last_hour"], a["uptime_last_week"]) == (60.0, 3.0)
    assert (b["uptime_last_hour"], b["uptime_last_week"]) == (60.0, 168.0)


@pytest.mark.parametrize(
    ("at", "zone", "week_hours"),
    [
        # The first instant datetime can hold: the week lies before it, in year 0. Kiritimati
        # was at LMT -10:29:20: Monday 0000-12-25 (proleptic) local is 12-25 10:29:20 UTC
        # to 12-26 10:29:20 UTC, inside the week.
        (datetime(1, 1, 1, tzinfo=UTC), "Pacific/Kiritimati", 24.0),
        # The last one: in +14:00 the week's last local date is 10000-01-01;
        # Monday 9999-12-27 00:00-24:00 local is 12-26 10:00 to 12-27 10:00 UTC.
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "Pacific/Kiritimati", 24.0),
    ],
)
def test_instants_at_the_ends_of_the_datetime_range(
    at: datetime, zone: str, week_hours: float
) -> None:
    """No OverflowError for dates outside datetime's range: a store with hours and one
    open 24x7, both always active."""
    polls = polls_table([Poll("S", at, True), Poll("T", at, True)])
    hours = hours_table([HoursRow("S", MONDAY, 0, 0)])
    report = compute_report(polls, hours, zones_table([("S", zone)]), as_of=at)
    s, t = report.table.to_pylist()
    assert s["uptime_last_week"] == week_hours
    assert t["uptime_last_week"] == 168.0


def test_dates_before_1970() -> None:
    """Local dates before the epoch count like any other (days since 1970 are negative)."""
    # Monday 1969-12-29 09:00-17:00 in New York (EST) is 14:00-22:00 UTC.
    row = _row("America/New_York", [(MONDAY, 9 * H, 17 * H)], datetime(1969, 12, 30, tzinfo=UTC))
    assert (row["uptime_last_day"], row["uptime_last_week"]) == (8.0, 8.0)
