"""A slow, obviously-correct report, written straight from SPEC.md.

Shares no code with ``storemon.engine``: per store, Python loops, ``zoneinfo`` with
``fold=0`` on every local date, exact ``Fraction`` instants, piecewise integration.
Instants are microseconds since the epoch as ``Fraction`` (midpoints can be halves).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000


@dataclass(frozen=True)
class Poll:
    store_id: str
    at: datetime  # aware UTC
    active: bool


@dataclass(frozen=True)
class HoursRow:
    store_id: str
    day_of_week: int
    start_us: int  # since local midnight
    end_us: int


def us(instant: datetime) -> int:
    if instant.tzinfo is None:  # naive means UTC
        instant = instant.replace(tzinfo=UTC)
    return (instant - EPOCH) // timedelta(microseconds=1)


def _zone(name: str | None) -> ZoneInfo:
    if name is None:
        return ZoneInfo("America/Chicago")
    try:
        return ZoneInfo(name)
    except Exception:  # unknown names fall back to the default zone
        return ZoneInfo("America/Chicago")


def _wall_to_us(day: date, tod_us: int, zone: ZoneInfo) -> int:
    """Local date + microseconds since midnight → UTC microseconds, fold=0."""
    if tod_us == 24 * HOUR_US:
        day, tod_us = day + timedelta(days=1), 0
    seconds, micro = divmod(tod_us, 1_000_000)
    wall = datetime.combine(
        day, time(seconds // 3600, seconds // 60 % 60, seconds % 60, micro), tzinfo=zone
    )
    assert wall.fold == 0
    return us(wall.astimezone(UTC))


def _business(rows: list[HoursRow], zone: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int]]:
    """Merged business intervals of one store that can touch [lo, hi)."""
    if not rows:
        return [(lo, hi)]  # open 24x7
    first = (EPOCH + timedelta(microseconds=lo)).astimezone(zone).date() - timedelta(days=3)
    last = (EPOCH + timedelta(microseconds=hi)).astimezone(zone).date() + timedelta(days=1)
    raw = []
    day = first
    while day <= last:
        for row in rows:
            if row.day_of_week != day.weekday():
                continue
            end = row.end_us
            if end >= (23 * 60 + 59) * MINUTE_US:
                end_day, end = day + timedelta(days=1), 0  # midnight at the end of the date
            elif end <= row.start_us:
                end_day = day + timedelta(days=1)  # crosses midnight
            else:
                end_day = day
            start = _wall_to_us(day, row.start_us, zone)
            stop = _wall_to_us(end_day, end, zone)
            if stop > start:
                raw.append((start, stop))
        day += timedelta(days=1)
    raw.sort()
    merged: list[list[int]] = []
    for start, stop in raw:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return [(a, b) for a, b in merged]


def _state_pieces(
    polls: list[tuple[int, bool]], interpolation: str
) -> list[tuple[Fraction, Fraction, bool]]:
    """(start, end, active) pieces covering all time; ends are +-infinity as huge values."""
    far = Fraction(10**20)
    pieces = []
    for i, (t, active) in enumerate(polls):
        if interpolation == "nearest":
            start = -far if i == 0 else Fraction(polls[i - 1][0] + t, 2)
            end = far if i == len(polls) - 1 else Fraction(t + polls[i + 1][0], 2)
        else:
            start = -far if i == 0 else Fraction(t)
            end = far if i == len(polls) - 1 else Fraction(polls[i + 1][0])
        pieces.append((start, end, active))
    return pieces


def _overlap(a0: Fraction, a1: Fraction, b0: Fraction, b1: Fraction) -> Fraction:
    return max(Fraction(0), min(a1, b1) - max(a0, b0))


def _round(duration_us: Fraction, unit_us: int) -> float:
    q = math.floor(duration_us / unit_us * 100 + Fraction(1, 2))
    return q / 100


Totals = dict[str, list[tuple[Fraction, Fraction]]]


def reference_totals(
    polls: Iterable[Poll],
    hours: Iterable[HoursRow],
    timezones: Iterable[tuple[str, str]],
    as_of: datetime | None,
    interpolation: str,
) -> tuple[int | None, Totals]:
    """as_of (µs) and, per store, exact (uptime, downtime) in µs for hour, day and week."""
    polls = list(polls)
    if as_of is None:
        if not polls:
            return None, {}
        as_of = max(p.at for p in polls)
    now = us(as_of)
    by_store: dict[str, dict[int, bool]] = {}
    for poll in polls:  # later rows overwrite earlier ones at the same instant
        t = us(poll.at)
        if t <= now:
            by_store.setdefault(poll.store_id, {})[t] = poll.active
    zone_names: dict[str, str] = {}
    for store_id, name in timezones:
        zone_names[store_id] = name
    rows_of: dict[str, list[HoursRow]] = {}
    for row in hours:
        rows_of.setdefault(row.store_id, []).append(row)

    totals: Totals = {}
    for store_id, observed in by_store.items():
        zone = _zone(zone_names.get(store_id))
        business = _business(rows_of.get(store_id, []), zone, now - 168 * HOUR_US, now)
        pieces = _state_pieces(sorted(observed.items()), interpolation)
        totals[store_id] = []
        for start in (now - HOUR_US, now - 24 * HOUR_US, now - 168 * HOUR_US):
            up = down = Fraction(0)
            for b0, b1 in business:
                w0, w1 = Fraction(max(b0, start)), Fraction(min(b1, now))
                if w1 <= w0:
                    continue
                for p0, p1, active in pieces:
                    length = _overlap(w0, w1, p0, p1)
                    if active:
                        up += length
                    else:
                        down += length
            totals[store_id].append((up, down))
    return now, totals


def reference_report(
    polls: Iterable[Poll],
    hours: Iterable[HoursRow],
    timezones: Iterable[tuple[str, str]],
    as_of: datetime | None,
    interpolation: str,
) -> list[tuple[str, float, float, float, float, float, float]]:
    """Rows (store_id, up hour, up day, up week, down hour, down day, down week), byte order."""
    _, totals = reference_totals(polls, hours, timezones, as_of, interpolation)
    out = []
    for store_id in sorted(totals, key=lambda s: s.encode("utf-8")):
        (up_h, down_h), (up_d, down_d), (up_w, down_w) = totals[store_id]
        out.append(
            (
                store_id,
                _round(up_h, MINUTE_US),
                _round(up_d, HOUR_US),
                _round(up_w, HOUR_US),
                _round(down_h, MINUTE_US),
                _round(down_d, HOUR_US),
                _round(down_w, HOUR_US),
            )
        )
    return out
