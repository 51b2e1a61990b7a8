"""The hand-worked Part 2 example of docs/computation.md, exact CSV text.

Store G (America/New_York) is open Saturday and Sunday 20:00-02:00 local. The week holds
the end of US daylight time (2023-11-05 02:00 EDT -> 01:00 EST): Saturday night's business
interval lasts 7 real hours and its local hour 01 happens twice. An outage runs across local
midnight (02:00-05:45 UTC = Sat 22:00 -> Sun 01:45 EDT); a 4 h 15 min gap between polls on
Sunday night leaves 2 h 15 min unobserved. as_of is Monday 2023-11-06 12:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from storemon.engine import compute_report, report_csv
from storemon.engine.options import report_options
from storemon.engine.outages import compute_outages, outages_csv
from storemon.engine.profile import compute_profile, profile_csv
from storemon.ingest import read_source

DATA = Path(__file__).parent.parent / "data" / "engine"
AS_OF = datetime(2023, 11, 6, 12, tzinfo=UTC)

#: (weekday, hour): (business, uptime, downtime) hours, worked by hand; every other bucket 0.
BY_HAND = {
    (5, 20): (1, 1, 0),
    (5, 21): (1, 1, 0),
    (5, 22): (1, 0, 1),
    (5, 23): (1, 0, 1),
    (6, 0): (1, 0, 1),
    (6, 1): (2, 1.25, 0.75),  # 01:00-02:00 EDT and again 01:00-02:00 EST
    (6, 20): (1, 0, 1),
    (6, 21): (1, 0, 1),
    (6, 22): (1, 0.375, 0.625),
    (6, 23): (1, 1, 0),
    (0, 0): (1, 1, 0),
    (0, 1): (1, 1, 0),
}


def _inputs() -> tuple[object, ...]:
    return tuple(
        read_source(source, DATA / f"part2_{source}.csv").table
        for source in ("status", "hours", "timezones")
    )


def _half_up(hours: float) -> str:
    return f"{int(hours * 100 + 0.5) / 100:.2f}"


def test_extended_report() -> None:
    polls, hours, zones = _inputs()
    for policy, name in (("extrapolate", "extended"), ("exclude", "exclude")):
        options = report_options(extended=True, unobserved=policy)
        report = compute_report(polls, hours, zones, as_of=AS_OF, options=options)  # type: ignore[arg-type]
        assert report_csv(report.table) == (DATA / f"part2_report_{name}.csv").read_bytes()


def test_outage_list() -> None:
    polls, hours, zones = _inputs()
    found = compute_outages(polls, hours, zones, as_of=AS_OF)  # type: ignore[arg-type]
    assert outages_csv(found.table) == (DATA / "part2_outages.csv").read_bytes()


def test_profile() -> None:
    polls, hours, zones = _inputs()
    profile = compute_profile(polls, hours, zones, as_of=AS_OF)  # type: ignore[arg-type]
    lines = ["day_of_week,hour,stores_open,business_hours,uptime_hours,downtime_hours"]
    for day in range(7):
        for hour in range(24):
            business, up, down = BY_HAND.get((day, hour), (0, 0, 0))
            opened = 1 if business else 0
            lines.append(
                f"{day},{hour},{opened},{_half_up(business)},{_half_up(up)},{_half_up(down)}"
            )
    assert profile_csv(profile).decode() == "\n".join(lines) + "\n"
    assert sum(down for _, _, down in BY_HAND.values()) == 6.375  # = downtime_last_week
