"""Wall clock → UTC, vectorized per (zone, date), equals zoneinfo with fold=0 everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from storemon.engine.zones import wall_to_utc_us, zone_or_default

ZONES = [
    "America/New_York",
    "America/St_Johns",
    "America/Santiago",  # changes at 24:00
    "America/Havana",  # changes at 00:00 / 01:00
    "Asia/Beirut",  # changes at 00:00
    "Africa/Cairo",  # changes at 00:00 / 24:00 (2023)
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Europe/London",
    "UTC",
]
MINUTE_US = 60_000_000
TIMES_US = [m * MINUTE_US for m in range(0, 24 * 60, 15)] + [24 * 60 * MINUTE_US - 1, 7_654_321]


def test_every_quarter_hour_of_2023_in_zones_with_odd_transitions() -> None:
    zones = [ZoneInfo(name) for name in ZONES]
    days = np.arange(19358, 19358 + 366, dtype=np.int64)  # 2023-01-01 .. 2024-01-01
    z, d, t = np.meshgrid(np.arange(len(zones)), days, np.array(TIMES_US), indexing="ij")
    got = wall_to_utc_us(zones, z.ravel(), d.ravel(), t.ravel())
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for i, (zone, day, tod) in enumerate(zip(z.ravel(), d.ravel(), t.ravel(), strict=True)):
        wall = datetime(1970, 1, 1) + timedelta(days=int(day), microseconds=int(tod))
        expected = (wall.replace(tzinfo=zones[zone]).astimezone(UTC) - epoch) // timedelta(
            microseconds=1
        )
        assert got[i] == expected, (ZONES[zone], wall)


@pytest.mark.parametrize("name", ["Not/A_Zone", "", "../etc/passwd", "America/New_York "])
def test_unknown_zone_names_fall_back_to_chicago(name: str) -> None:
    assert zone_or_default(name).key == "America/Chicago"
