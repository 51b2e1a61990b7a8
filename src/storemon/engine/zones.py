"""Zone names → zoneinfo, and wall-clock times → UTC instants, vectorized per (zone, date).

A wall time is (zone, local date, microseconds since local midnight). It resolves
like ``datetime(..., tzinfo=ZoneInfo(zone), fold=0)``: a repeated time is its first
occurrence, a skipped time uses the offset in force before the change.

zoneinfo is called once per (zone, local date), never per store or row; only on the
few dates that contain a transition is each distinct wall time resolved on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon.engine.stores import Column, last_per_store
from storemon.instants import from_epoch_us as to_datetime
from storemon.instants import to_epoch_us as to_us
from storemon.schema import DEFAULT_TIMEZONE, US_PER_DAY

_EPOCH = datetime(1970, 1, 1)  # naive: wall clocks
_ONE_US = timedelta(microseconds=1)
_PROBES_US = (6 * 3_600_000_000, 12 * 3_600_000_000, 18 * 3_600_000_000)


def zone_or_default(name: str) -> ZoneInfo:
    """The zone named ``name``; the default zone when the name is unknown or malformed."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def store_zones(
    names: Column, store: NDArray[np.int64], n_stores: int
) -> tuple[list[ZoneInfo], NDArray[np.int64]]:
    """Zones used and each store's zone code; the last row per store wins, default code 0.

    ``store`` gives each name row's store index (-1: not a store of interest).
    """
    zones = [ZoneInfo(DEFAULT_TIMEZONE)]
    zone_of_store = np.zeros(n_stores, dtype=np.int64)
    stores, rows = last_per_store(store)
    if len(rows) == 0:
        return zones, zone_of_store
    chosen = names.take(rows)
    encoded = pc.dictionary_encode(chosen)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    assert isinstance(encoded, pa.DictionaryArray)
    by_key = {zones[0].key: 0}
    codes = []
    for name in encoded.dictionary.to_pylist():
        zone = zone_or_default(str(name))
        codes.append(by_key.setdefault(zone.key, len(by_key)))
        if codes[-1] == len(zones):
            zones.append(zone)
    code_array = np.asarray(codes, dtype=np.int64)
    zone_of_store[stores] = code_array[encoded.indices.to_numpy(zero_copy_only=False)]
    return zones, zone_of_store


#: The local dates datetime can hold (days since 1970-01-01): 0001-01-01 .. 9999-12-31.
_FIRST_DAY = (datetime(1, 1, 1) - _EPOCH).days
_LAST_DAY = (datetime(9999, 12, 31) - _EPOCH).days


def _utc_us(zone: ZoneInfo, day: int, tod_us: int) -> int:
    """Exact: local (day, time) in ``zone`` with fold=0 → UTC microseconds since the epoch."""
    return day * US_PER_DAY + tod_us - _offset_us(zone, day, tod_us)


def _offset_us(zone: ZoneInfo, day: int, tod_us: int) -> int:
    """The zone's UTC offset (fold=0) at a wall time; a date outside datetime's range (a
    week around 0001-01-01 or 9999-12-31) takes the offset of the nearest date it holds."""
    day = min(max(day, _FIRST_DAY), _LAST_DAY)
    wall = _EPOCH + timedelta(days=day, microseconds=tod_us)
    offset = wall.replace(tzinfo=zone).utcoffset()
    assert offset is not None
    return offset // _ONE_US


def _day_table(
    zones: Sequence[ZoneInfo], first_day: int, n_days: int
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Offset at local midnight per (zone, day), and whether the day holds a transition."""
    offsets = np.empty((len(zones), n_days + 1), dtype=np.int64)
    inner_differs = np.zeros((len(zones), n_days), dtype=bool)
    for z, zone in enumerate(zones):
        for d in range(n_days + 1):
            offsets[z, d] = _offset_us(zone, first_day + d, 0)
            if d < n_days:
                inner_differs[z, d] = any(
                    _offset_us(zone, first_day + d, probe) != offsets[z, d] for probe in _PROBES_US
                )
    transition = inner_differs | (offsets[:, 1:] != offsets[:, :-1])
    return offsets[:, :-1], transition


class ZoneDays:
    """Wall time → UTC for a fixed list of zones and a fixed range of local dates.

    Built once (zoneinfo once per (zone, date)); :meth:`to_utc_us` is then vectorized and
    can be called for many batches of rows (e.g. one per chunk of stores, from several
    threads). Exact resolutions on transition dates are cached across calls.
    """

    def __init__(self, zones: Sequence[ZoneInfo], first_day: int, last_day: int) -> None:
        self.zones = list(zones)
        self.first_day = first_day
        self.n_days = max(last_day - first_day + 1, 1)
        self.offsets, self.transition = _day_table(self.zones, first_day, self.n_days)
        self._exact: dict[int, int] = {}  # key (zone, day, time) → UTC µs

    def to_utc_us(
        self, zone_code: NDArray[np.int64], day: NDArray[np.int64], tod_us: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """UTC microseconds of wall times (``zones[zone_code]``, epoch ``day``, ``tod_us`` < 24 h).

        Every ``day`` must lie in the range given to the constructor.
        """
        if len(day) == 0:
            return np.empty(0, dtype=np.int64)
        d_pos = day - self.first_day
        utc = day * US_PER_DAY + tod_us - self.offsets[zone_code, d_pos]
        exact = self.transition[zone_code, d_pos]
        if exact.any():  # the few (zone, date) pairs with a transition: each distinct time exactly
            key = (zone_code[exact] * self.n_days + d_pos[exact]) * US_PER_DAY + tod_us[exact]
            distinct, inverse = np.unique(key, return_inverse=True)
            resolved = np.empty(len(distinct), dtype=np.int64)
            cache = self._exact
            for i, k in enumerate(distinct.tolist()):  # per distinct wall time, not per row
                found = cache.get(k)
                if found is None:
                    zd, tod = divmod(k, US_PER_DAY)
                    z, d = divmod(zd, self.n_days)
                    found = cache[k] = _utc_us(self.zones[z], self.first_day + d, tod)
                resolved[i] = found
            utc[exact] = resolved[inverse.ravel()]
        return utc


_HOUR_US = 3_600_000_000
_PROBE_STEP_US = 6 * _HOUR_US
_US_PER_S = 1_000_000
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_US = -62_135_596_800 * _US_PER_S + US_PER_DAY  # a day after 0001-01-01
_LAST_US = 253_402_214_400 * _US_PER_S - 2 * US_PER_DAY  # two days before 10000-01-01


def _utc_offset_us(zone: ZoneInfo, instant_us: int) -> int:
    """The zone's UTC offset at a UTC instant (clamped into datetime's range)."""
    instant_us = min(max(instant_us, _FIRST_US), _LAST_US)
    offset = (_UTC_EPOCH + timedelta(microseconds=instant_us)).astimezone(zone).utcoffset()
    assert offset is not None
    return offset // _ONE_US


def offset_changes(zone: ZoneInfo, lo_us: int, hi_us: int) -> list[tuple[int, int]]:
    """(instant, offset) where the zone's offset takes a new value, over ``[lo_us, hi_us]``.

    The first entry is ``lo_us`` with the offset in force there. Offsets are sampled every
    six hours and each change is found to the second by bisection (tzdata's transitions
    fall on whole seconds; two changes within six hours that cancel out would be missed,
    as in :class:`ZoneDays`).
    """
    changes = [(lo_us, _utc_offset_us(zone, lo_us))]
    at, offset = lo_us, changes[0][1]
    while at < hi_us:
        probe = min(at + _PROBE_STEP_US, hi_us)
        probed = _utc_offset_us(zone, probe)
        if probed != offset:
            low, high = at // _US_PER_S, -(-probe // _US_PER_S)  # offset(low) old, (high) new
            while high - low > 1:
                middle = (low + high) // 2
                if _utc_offset_us(zone, middle * _US_PER_S) == offset:
                    low = middle
                else:
                    high = middle
            changed = max(high * _US_PER_S, lo_us)
            offset = _utc_offset_us(zone, changed)
            changes.append((changed, offset))
            probe = changed
        at = probe
    return changes


class LocalHours:
    """Where the local (weekday, hour) changes, per zone, over a range of UTC instants.

    For each zone: the sorted UTC instants at which a local wall-clock hour begins (each
    hour start, and each offset change), from at or before ``lo_us`` to after ``hi_us``,
    with the bucket ``weekday * 24 + hour`` (0 = Monday 00) of the hour that begins there.
    A repeated hour (clocks go back) gives two stretches with one bucket; a skipped hour
    gives none. Keys are ``zone * span + (instant - base)``, one sorted array for all zones.
    """

    def __init__(self, zones: Sequence[ZoneInfo], lo_us: int, hi_us: int) -> None:
        start = (lo_us // _HOUR_US - 1) * _HOUR_US
        stop = (-(-hi_us // _HOUR_US) + 1) * _HOUR_US
        self.base = start
        self.span = stop - start + 1
        keys, buckets = [], []
        for z, zone in enumerate(zones):  # per zone and offset stretch, not per store
            changes = offset_changes(zone, start, stop)
            bounds = [at for at, _ in changes[1:]] + [stop + 1]
            instants, offsets = [], []
            for (at, offset), end in zip(changes, bounds, strict=True):
                first = -(-(at + offset) // _HOUR_US) * _HOUR_US - offset  # next local hour
                hours = np.arange(first, end, _HOUR_US, dtype=np.int64)
                if len(hours) == 0 or hours[0] != at:  # a stretch starts a local hour too
                    hours = np.insert(hours, 0, at)
                instants.append(hours)
                offsets.append(np.full(len(hours), offset, dtype=np.int64))
            instant = np.concatenate(instants)
            local_hour = (instant + np.concatenate(offsets)) // _HOUR_US
            weekday = (local_hour // 24 + 3) % 7  # 1970-01-01 was a Thursday
            keys.append(z * self.span + (instant - start))
            buckets.append(weekday * 24 + local_hour % 24)
        self.keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
        self.buckets = np.concatenate(buckets) if buckets else np.zeros(0, dtype=np.int64)

    def split(
        self,
        zone_code: NDArray[np.int64],
        start_us: NDArray[np.int64],
        end_us: NDArray[np.int64],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """Intervals cut at local hour starts: (interval row, start, end, bucket) per piece."""
        a = zone_code * self.span + (start_us - self.base)
        b = zone_code * self.span + (end_us - self.base)
        first = np.searchsorted(self.keys, a, side="right") - 1
        last = np.searchsorted(self.keys, b, side="left") - 1
        count = last - first + 1
        row = np.repeat(np.arange(len(a)), count)
        offsets = np.cumsum(count) - count
        k = first[row] + (np.arange(len(row)) - offsets[row])
        piece_start = np.maximum(self.keys[k], a[row])
        piece_end = np.minimum(self.keys[k + 1], b[row])
        shift = zone_code[row] * self.span - self.base
        keep = piece_end > piece_start
        return (
            row[keep],
            (piece_start - shift)[keep],
            (piece_end - shift)[keep],
            self.buckets[k][keep],
        )


def wall_to_utc_us(
    zones: Sequence[ZoneInfo],
    zone_code: NDArray[np.int64],
    day: NDArray[np.int64],
    tod_us: NDArray[np.int64],
) -> NDArray[np.int64]:
    """UTC microseconds of wall times (``zones[zone_code]``, epoch ``day``, ``tod_us`` < 24 h)."""
    if len(day) == 0:
        return np.empty(0, dtype=np.int64)
    used = np.flatnonzero(np.bincount(zone_code, minlength=len(zones)))
    position = np.zeros(len(zones), dtype=np.int64)
    position[used] = np.arange(len(used))
    table = ZoneDays([zones[int(z)] for z in used], int(day.min()), int(day.max()))
    return table.to_utc_us(position[zone_code], day, tod_us)


def epoch_day(instant_us: int) -> int:
    """The UTC date (days since 1970-01-01) of an instant."""
    return instant_us // US_PER_DAY


__all__ = [
    "LocalHours",
    "ZoneDays",
    "epoch_day",
    "offset_changes",
    "store_zones",
    "to_datetime",
    "to_us",
    "wall_to_utc_us",
    "zone_or_default",
]
