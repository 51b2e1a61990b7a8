"""Engine test helpers (imported by the engine tests): Arrow tables from rows, Hypothesis cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from hypothesis import strategies as st
from reference import HoursRow, Poll

from storemon import schema

H = 3_600_000_000
M = 60_000_000

ZONES = [
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Pacific/Chatham",
    "Europe/London",
    "America/New_York",
    "UTC",
    "America/Chicago",
    "Not/A_Zone",  # unknown: the default zone
]
STORE_IDS = ["0042", "42", "store-7a", "Ünïcødé-店", "a,b", "Z", "s 1"]

#: Weeks around DST changes in both hemispheres (and one quiet week).
DST_DAYS = [
    datetime(2023, 3, 12, tzinfo=UTC),  # US spring forward
    datetime(2023, 3, 26, tzinfo=UTC),  # EU spring forward
    datetime(2023, 4, 2, tzinfo=UTC),  # AU / NZ / Lord_Howe back
    datetime(2023, 9, 24, tzinfo=UTC),  # Chatham forward
    datetime(2023, 10, 1, tzinfo=UTC),  # AU / Lord_Howe forward
    datetime(2023, 10, 29, tzinfo=UTC),  # EU back
    datetime(2023, 11, 5, tzinfo=UTC),  # US / St_Johns back
    datetime(2023, 1, 23, tzinfo=UTC),
]

#: Times of day that hit the rules: DST hours, midnight, the 23:59 rule, half-hours.
TIMES = [
    0,
    H,
    90 * M,
    2 * H,
    150 * M,
    165 * M,
    3 * H,
    9 * H,
    12 * H,
    22 * H,
    23 * H,
    (23 * 60 + 58) * M,
    (23 * 60 + 59) * M,
    (23 * 60 + 59) * M + 30_000_000,
    (23 * 60 + 59) * M + 10_000_000,
    24 * H - 1,
]
END_TIMES = [*TIMES, 24 * H]


def polls_table(polls: list[Poll]) -> pa.Table:
    return pa.table(
        {
            "store_id": [p.store_id for p in polls],
            "timestamp_utc": [p.at for p in polls],
            "active": [p.active for p in polls],
        },
        schema=schema.POLLS,
    )


def hours_table(rows: list[HoursRow]) -> pa.Table:
    return pa.table(
        {
            "store_id": [r.store_id for r in rows],
            "day_of_week": [r.day_of_week for r in rows],
            "start_local_us": [r.start_us for r in rows],
            "end_local_us": [r.end_us for r in rows],
        },
        schema=schema.HOURS,
    )


def zones_table(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {"store_id": [r[0] for r in rows], "timezone_str": [r[1] for r in rows]},
        schema=schema.TIMEZONES,
    )


@dataclass(frozen=True)
class Case:
    polls: list[Poll]
    hours: list[HoursRow]
    zones: list[tuple[str, str]]
    as_of: datetime | None

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table]:
        return polls_table(self.polls), hours_table(self.hours), zones_table(self.zones)


_time_of_day = st.one_of(st.sampled_from(TIMES), st.integers(0, 24 * H - 1))
_end_time = st.one_of(st.sampled_from(END_TIMES), st.integers(0, 24 * H))


@st.composite
def _store(draw: st.DrawFn, store_id: str, as_of: datetime) -> Case:
    n = draw(st.integers(1, 25))
    dense = draw(st.booleans())
    spread_us = 2 * H if dense else 9 * 24 * H
    offsets = draw(st.lists(st.integers(-spread_us, H), min_size=n, max_size=n))
    polls = [
        Poll(store_id, as_of + timedelta(microseconds=o), draw(st.booleans())) for o in offsets
    ]
    if draw(st.booleans()):  # duplicates of an instant, maybe with another state
        dup = draw(st.sampled_from(polls))
        polls.insert(draw(st.integers(0, len(polls))), Poll(store_id, dup.at, draw(st.booleans())))
    hours: list[HoursRow] = []
    if draw(st.integers(0, 4)):  # most stores have hours; some are open 24x7
        for _ in range(draw(st.integers(1, 8))):
            start = draw(_time_of_day)
            end = draw(st.one_of(_end_time, st.just(start)))
            hours.append(HoursRow(store_id, draw(st.integers(0, 6)), start, end))
    zones = [(store_id, draw(st.sampled_from(ZONES))) for _ in range(draw(st.integers(0, 2)))]
    return Case(polls, hours, zones, None)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A few stores around a DST week; polls in any order, some after as_of."""
    day = draw(st.sampled_from(DST_DAYS))
    as_of = day + timedelta(microseconds=draw(st.integers(-8 * 24 * H, 8 * 24 * H)))
    ids = draw(st.lists(st.sampled_from(STORE_IDS), min_size=1, max_size=4, unique=True))
    parts = [draw(_store(store_id, as_of)) for store_id in ids]
    polls = draw(st.permutations([p for part in parts for p in part.polls]))
    hours = draw(st.permutations([h for part in parts for h in part.hours]))
    zones = [z for part in parts for z in part.zones]
    given = draw(st.sampled_from([None, as_of, as_of.replace(tzinfo=None)]))
    return Case(polls, hours, zones, given)
