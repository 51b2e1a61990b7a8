"""Engine test helpers (imported by the engine tests): Arrow tables from rows, Hypothesis cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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
    datetime(1969, 10, 26, tzinfo=UTC),  # US back, before the epoch (negative days)
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


@dataclass(frozen=True)
class Transition:
    """A DST change: its zone, UTC instant, local weekday and wall times in and around the
    skipped or repeated span (where fold=0 matters)."""

    zone: str
    at: datetime
    weekday: int
    times: tuple[int, ...]


def _transitions(zone_name: str, year: int) -> list[Transition]:
    """The offset changes of a zone in a year (scanned hourly, then by quarter hours)."""
    zone = ZoneInfo(zone_name)
    found = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    before = t.astimezone(zone).utcoffset()
    while t.year == year:
        after = (t + timedelta(hours=1)).astimezone(zone).utcoffset()
        if after != before:
            at = next(  # transitions fall on quarter hours
                t + timedelta(minutes=q)
                for q in (15, 30, 45, 60)
                if (t + timedelta(minutes=q)).astimezone(zone).utcoffset() == after
            )
            assert before is not None
            assert after is not None
            walls = sorted(((at + before).replace(tzinfo=None), (at + after).replace(tzinfo=None)))
            lo = walls[0].hour * H + walls[0].minute * M
            hi = walls[1].hour * H + walls[1].minute * M
            times = (lo - 15 * M, lo - 1, lo, lo + 1, (lo + hi) // 2, hi - 1, hi, hi + 15 * M)
            found.append(Transition(zone_name, at, walls[0].weekday(), times))
        before = after
        t += timedelta(hours=1)
    return found


_DST_ZONES = ["Australia/Lord_Howe", "America/St_Johns", "Pacific/Chatham", "Europe/London"]
#: DST changes in 2023, both hemispheres, incl. Lord_Howe's 30 minutes and Chatham's 02:45.
TRANSITIONS = [t for zone in [*_DST_ZONES, "America/New_York"] for t in _transitions(zone, 2023)]


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
def _store(draw: st.DrawFn, store_id: str, as_of: datetime, focus: Transition | None) -> Case:
    """One store's rows; with a ``focus`` DST change, hours and zone often aim at it."""
    n = draw(st.integers(1, 25))
    spread = draw(st.sampled_from(["dense", "sparse", "stale"]))
    low, high = {
        "dense": (-2 * H, H),
        "sparse": (-9 * 24 * H, H),
        "stale": (-10 * 24 * H, -7 * 24 * H),
    }[spread]
    offsets = draw(st.lists(st.integers(low, high), min_size=n, max_size=n))
    polls = [
        Poll(store_id, as_of + timedelta(microseconds=o), draw(st.booleans())) for o in offsets
    ]
    if draw(st.booleans()):  # duplicates of an instant, maybe with another state
        dup = draw(st.sampled_from(polls))
        polls.insert(draw(st.integers(0, len(polls))), Poll(store_id, dup.at, draw(st.booleans())))
    start_time, end_time, weekday = _time_of_day, _end_time, st.integers(0, 6)
    if focus is not None:  # the skipped or repeated wall times, on the day of the change
        start_time = st.one_of(st.sampled_from(focus.times), _time_of_day)
        end_time = st.one_of(st.sampled_from(focus.times), _end_time)
        near = [focus.weekday, (focus.weekday - 1) % 7]  # and overnight from the day before
        weekday = st.one_of(st.sampled_from(near), weekday)
    hours: list[HoursRow] = []
    if draw(st.integers(0, 4)):  # most stores have hours; some are open 24x7
        for _ in range(draw(st.integers(1, 8))):
            start = draw(start_time)
            end = draw(st.one_of(end_time, st.just(start)))
            hours.append(HoursRow(store_id, draw(weekday), start, end))
    zone_names = st.sampled_from(ZONES)
    if focus is not None:
        zone_names = st.one_of(st.just(focus.zone), zone_names)
    zones = [(store_id, draw(zone_names)) for _ in range(draw(st.integers(0, 2)))]
    return Case(polls, hours, zones, None)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A few stores around a DST week; polls in any order, some after as_of.

    Half of the cases aim at one DST change (``TRANSITIONS``): as_of within the week after
    it, hours starting or ending in its skipped or repeated wall times. Hours and zone rows
    of a store without polls (ignored) are sometimes added.
    """
    focus = draw(st.one_of(st.none(), st.sampled_from(TRANSITIONS)))
    if focus is None:
        day = draw(st.sampled_from(DST_DAYS))
        as_of = day + timedelta(microseconds=draw(st.integers(-8 * 24 * H, 8 * 24 * H)))
    else:
        as_of = focus.at + timedelta(microseconds=draw(st.integers(-H, 7 * 24 * H)))
    ids = draw(st.lists(st.sampled_from(STORE_IDS), min_size=1, max_size=4, unique=True))
    parts = [draw(_store(store_id, as_of, focus)) for store_id in ids]
    polls = draw(st.permutations([p for part in parts for p in part.polls]))
    hours = [h for part in parts for h in part.hours]
    zones = [z for part in parts for z in part.zones]
    ghosts = [i for i in STORE_IDS if i not in ids]
    if ghosts and draw(st.booleans()):  # settings of a store with no polls: no row
        ghost = draw(_store(draw(st.sampled_from(ghosts)), as_of, focus))
        hours += ghost.hours
        zones += ghost.zones
    hours = draw(st.permutations(hours))
    given = draw(st.sampled_from([None, as_of, as_of.replace(tzinfo=None)]))
    return Case(polls, hours, zones, given)
