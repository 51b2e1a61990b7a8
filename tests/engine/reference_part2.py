"""A slow, obviously-correct Part 2 (SPEC.md), written straight from its text.

Shares no code with ``storemon.engine``; builds on the Part 1 reference (business intervals
by zoneinfo on every local date, state pieces, exact ``Fraction`` instants in µs). Per store,
per window, with Python loops:

- observed time: the union of ``[t_i - w, t_i + w]`` over the polls at or before as_of;
- outages: maximal intervals inside business hours and inactive;
- the profile: every elementary interval between breakpoints (business ends, state changes,
  every UTC quarter hour) goes to the local weekday and hour of its start in the store's
  zone (every zone offset and change in tzdata's recent history falls on a quarter hour).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

from reference import (
    EPOCH,
    HoursRow,
    Poll,
    _business,
    _state_pieces,
    _zone,
    us,
)

QUARTER_US = 15 * 60_000_000
Interval = tuple[Fraction, Fraction]


@dataclass(frozen=True)
class RefWindow:
    name: str
    length_us: int
    unit_us: int


@dataclass(frozen=True)
class StoreInputs:
    """One store as the reference sees it: polls (µs, state) at or before now, business, zone."""

    polls: list[tuple[int, bool]]
    business: list[tuple[int, int]]
    zone_name: str | None


@dataclass(frozen=True)
class WindowFigures:
    up: Fraction
    down: Fraction
    unobserved: Fraction
    outages: int
    longest: Fraction


def stores(
    polls: Iterable[Poll],
    hours: Iterable[HoursRow],
    timezones: Iterable[tuple[str, str]],
    now: int,
    longest_us: int,
) -> dict[str, StoreInputs]:
    """Each reported store's polls (later row wins per instant), business intervals, zone."""
    by_store: dict[str, dict[int, bool]] = {}
    for poll in polls:
        t = us(poll.at)
        if t <= now:
            by_store.setdefault(poll.store_id, {})[t] = poll.active
    zone_names: dict[str, str] = {}
    for store_id, name in timezones:
        zone_names[store_id] = name
    rows_of: dict[str, list[HoursRow]] = {}
    for row in hours:
        rows_of.setdefault(row.store_id, []).append(row)
    out = {}
    for store_id, observed in by_store.items():
        zone = _zone(zone_names.get(store_id))
        business = _business(rows_of.get(store_id, []), zone, now - longest_us, now)
        out[store_id] = StoreInputs(sorted(observed.items()), business, zone_names.get(store_id))
    return out


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out = []
    for a0, a1 in a:
        for b0, b1 in b:
            lo, hi = max(a0, b0), min(a1, b1)
            if hi > lo:
                out.append((lo, hi))
    return sorted(out)


def _length(parts: Iterable[Interval]) -> Fraction:
    return sum((hi - lo for lo, hi in parts), Fraction(0))


def _merge_touching(parts: list[Interval]) -> list[Interval]:
    merged: list[list[Fraction]] = []
    for lo, hi in sorted(parts):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def observed_set(polls: list[tuple[int, bool]], within_us: int) -> list[Interval]:
    """Instants within ``within_us`` of some poll: the union of closed intervals around them."""
    return _merge_touching([(Fraction(t - within_us), Fraction(t + within_us)) for t, _ in polls])


def outages(store: StoreInputs, now: int, interpolation: str) -> list[Interval]:
    """Maximal intervals (within the business intervals given, up to now) of inactive state."""
    business = [(Fraction(b0), Fraction(min(b1, now))) for b0, b1 in store.business if b0 < now]
    pieces = _state_pieces(store.polls, interpolation)
    down = [(p0, p1) for p0, p1, active in pieces if not active]
    parts = _intersect(business, down)
    return _merge_touching(parts)  # touching parts of one business interval are one outage


def window_figures(
    store: StoreInputs,
    now: int,
    window: RefWindow,
    interpolation: str,
    within_us: int,
    policy: str,
) -> WindowFigures:
    start = Fraction(now - window.length_us)
    business = _intersect(
        [(Fraction(b0), Fraction(b1)) for b0, b1 in store.business], [(start, Fraction(now))]
    )
    pieces = _state_pieces(store.polls, interpolation)
    active = _intersect(business, [(p0, p1) for p0, p1, a in pieces if a])
    inactive = _intersect(business, [(p0, p1) for p0, p1, a in pieces if not a])
    seen = observed_set(store.polls, within_us)
    business_time = _length(business)
    unobserved = business_time - _length(_intersect(business, seen))
    if policy == "exclude":
        up = _length(_intersect(active, seen))
        down = _length(_intersect(inactive, seen))
    else:
        up, down = _length(active), _length(inactive)
    inside = [
        hi - lo
        for o0, o1 in outages(store, now, interpolation)
        for lo, hi in [(max(o0, start), min(o1, Fraction(now)))]
        if hi > lo
    ]
    return WindowFigures(up, down, unobserved, len(inside), max(inside, default=Fraction(0)))


def rounded(duration_us: Fraction, unit_us: int) -> float:
    return math.floor(duration_us / unit_us * 100 + Fraction(1, 2)) / 100


def outage_list(
    inputs: dict[str, StoreInputs], now: int, length_us: int, interpolation: str
) -> list[tuple[str, Fraction, Fraction, bool]]:
    """(store, start, end, ongoing) of every outage overlapping the window, clipped to it."""
    start = Fraction(now - length_us)
    rows = []
    for store_id in sorted(inputs, key=lambda s: s.encode()):
        for o0, o1 in outages(inputs[store_id], now, interpolation):
            lo, hi = max(o0, start), min(o1, Fraction(now))
            if hi > lo:
                rows.append((store_id, lo, hi, hi == now))
    return rows


def profile(
    inputs: dict[str, StoreInputs], now: int, length_us: int, interpolation: str
) -> list[tuple[int, Fraction, Fraction, Fraction]]:
    """168 buckets (Monday 00 first): (stores open, business, uptime, downtime) in µs."""
    start = now - length_us
    stores_open = [0] * 168
    business = [Fraction(0)] * 168
    up = [Fraction(0)] * 168
    for store in inputs.values():
        zone = _zone(store.zone_name)
        pieces = _state_pieces(store.polls, interpolation)
        cuts = {Fraction(start), Fraction(now)}
        for b0, b1 in store.business:
            cuts.update((Fraction(b0), Fraction(b1)))
        for p0, p1, _ in pieces:
            cuts.update((p0, p1))
        q = start - start % QUARTER_US
        while q < now:
            cuts.add(Fraction(q))
            q += QUARTER_US
        points = sorted(c for c in cuts if start <= c <= now)
        opened = set()
        for lo, hi in itertools.pairwise(points):
            middle = (lo + hi) / 2
            if not any(b0 <= middle < b1 for b0, b1 in store.business):
                continue
            quarter = math.floor(lo / QUARTER_US) * QUARTER_US
            local = (EPOCH + timedelta(microseconds=quarter)).astimezone(zone)
            bucket = local.weekday() * 24 + local.hour
            opened.add(bucket)
            business[bucket] += hi - lo
            if next(a for p0, p1, a in pieces if p0 <= middle < p1):
                up[bucket] += hi - lo
        for bucket in opened:
            stores_open[bucket] += 1
    return [(stores_open[b], business[b], up[b], business[b] - up[b]) for b in range(168)]
