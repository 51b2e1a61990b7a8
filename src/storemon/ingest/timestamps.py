"""Vectorized parsing of SPEC timestamps and times of day.

Instants: ``YYYY-MM-DD HH:MM[:SS[.ffffff]]`` followed by `` UTC``, ``Z``, a
``±HH:MM`` offset or nothing (UTC); ``T`` may replace the space. Finer than
microsecond digits are truncated; offsets are converted to UTC; only real
calendar dates and times are accepted. Times of day: ``H:MM``, ``HH:MM:SS`` or
``HH:MM:SS.ffffff``, as microseconds since local midnight; ``24:00`` is
:data:`storemon.schema.US_PER_DAY` and only valid as an end time.

The column parsers return integer codes per value instead of raising, so the
CSV reader can reject rows one by one. The common fixed-width layouts
(``2023-01-22 12:09:39.388884 UTC`` and its shorter relatives) are decoded
straight from the string buffer with numpy; everything else goes through RE2.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, TypeAlias, TypeVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon.errors import InvalidRequest
from storemon.instants import from_epoch_us
from storemon.schema import US_PER_DAY, US_PER_SECOND

__all__ = [
    "BAD_CALENDAR",
    "BAD_FORMAT",
    "END_ONLY",
    "INSTANT_FORMS",
    "INSTANT_SHORT",
    "OK",
    "TIME_FORMS",
    "format_instants",
    "parse_instant",
    "parse_instants",
    "parse_times_of_day",
]

#: Codes returned per value by the column parsers.
OK: Final = 0
BAD_FORMAT: Final = 1  # does not look like any accepted form
BAD_CALENDAR: Final = 2  # right shape, impossible value (Feb 30, 25:00, minute 61, ...)
END_ONLY: Final = 3  # 24:00 given where only a start time is allowed

INSTANT_FORMS: Final = (
    "YYYY-MM-DD HH:MM[:SS[.ffffff]] followed by ' UTC', 'Z', '+HH:MM'/'-HH:MM' or nothing "
    "(UTC); 'T' may replace the space, e.g. '2023-01-22 12:09:39.388884 UTC'; or a bare "
    "date YYYY-MM-DD (midnight UTC)"
)
INSTANT_SHORT: Final = "YYYY-MM-DD HH:MM[:SS[.ffffff]] then ' UTC', 'Z', '±HH:MM' or nothing"
TIME_FORMS: Final = "H:MM, HH:MM:SS or HH:MM:SS.ffffff, e.g. '09:30' or '23:59:59'"

# datetime's range, as microseconds since the epoch: 0001-01-01 .. 9999-12-31 23:59:59.999999
_MIN_US: Final = -62_135_596_800 * US_PER_SECOND
_MAX_US: Final = 253_402_300_800 * US_PER_SECOND - 1

_INSTANT_RE: Final = (
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[ Tt](?P<h>\d{2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?:(?i: UTC|Z)|(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2}))?$"
)
_BARE_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME_RE: Final = r"^(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?$"

# Fixed-width layouts decoded with numpy: width -> (has fraction, suffix).
_FAST_LAYOUTS: Final[dict[int, tuple[bool, bytes]]] = {
    19: (False, b""),
    20: (False, b"Z"),
    23: (False, b" UTC"),
    26: (True, b""),
    27: (True, b"Z"),
    30: (True, b" UTC"),
}

# Two ASCII digits read as a little-endian uint16 -> their value; anything else has
# the _NOT_DIGITS bit set (valid values stay below it, so OR-ing values tests them all).
_NOT_DIGITS: Final = 128
_PAIR_VALUE: Final = np.full(65_536, _NOT_DIGITS, np.int16)
for _tens in range(10):
    for _ones in range(10):
        _PAIR_VALUE[(ord("0") + _tens) | (ord("0") + _ones) << 8] = _tens * 10 + _ones

Int64s = NDArray[np.int64]
Int8s = NDArray[np.int8]
Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"
_T = TypeVar("_T", bound=np.generic)


def parse_instant(text: str) -> datetime:
    """One SPEC timestamp → tz-aware UTC datetime (microsecond precision, finer digits truncated).

    A bare date ``YYYY-MM-DD`` is midnight UTC (for ``--as-of 2023-01-25``; CSV rows need
    a time). Raises :class:`storemon.errors.InvalidRequest` with a message that shows the
    accepted forms.
    """
    value = f"{text.strip()} 00:00" if _BARE_DATE.fullmatch(text.strip()) else text
    us, code = parse_instants(pa.array([value], pa.string()))
    if code[0] == BAD_CALENDAR:
        raise InvalidRequest(f"timestamp '{text}' is not a real date and time")
    if code[0] != OK:
        raise InvalidRequest(f"cannot read timestamp '{text}': expected {INSTANT_FORMS}")
    return from_epoch_us(int(us[0]))


def parse_instants(values: Column) -> tuple[Int64s, Int8s]:
    """Parse a string column of SPEC timestamps.

    Returns ``(us, code)``: microseconds since the Unix epoch (UTC) and a code per
    value (:data:`OK`, :data:`BAD_FORMAT` or :data:`BAD_CALENDAR`); ``us`` is 0
    where the code is not OK. Nulls count as :data:`BAD_FORMAT`.
    """
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    n = len(values)
    us = np.zeros(n, np.int64)
    code = np.full(n, BAD_FORMAT, np.int8)
    pos = 0
    for chunk in chunks:
        end = pos + len(chunk)
        _parse_instant_chunk(chunk, us[pos:end], code[pos:end])
        pos = end
    return us, code


def parse_times_of_day(values: Column, *, end: bool) -> tuple[Int64s, Int8s]:
    """Parse a string column of times of day into microseconds since midnight.

    Returns ``(us, code)`` like :func:`parse_instants`. ``24:00`` (with optional
    zero seconds and fraction) is accepted as ``US_PER_DAY`` when ``end`` is true
    and coded :data:`END_ONLY` otherwise. Surrounding blanks are ignored.
    """
    trimmed = pc.utf8_trim_whitespace(values)
    fields = pc.extract_regex(trimmed, _TIME_RE)
    matched = _matched(fields)
    n = len(values)
    code = np.full(n, BAD_FORMAT, np.int8)
    us = np.zeros(n, np.int64)
    if not matched.any():
        return us, code
    hour = _field_int(fields, "h")
    minute = _field_int(fields, "mi")
    second = _field_int(fields, "s")
    micro = _fraction_us(fields, "f")
    midnight = (hour == 24) & (minute == 0) & (second == 0) & (micro == 0)
    in_range = (hour <= 23) & (minute <= 59) & (second <= 59)
    us[:] = ((hour * 60 + minute) * 60 + second) * US_PER_SECOND + micro
    code[matched] = BAD_CALENDAR
    code[matched & in_range] = OK
    if end:
        code[matched & midnight] = OK
        us[matched & midnight] = US_PER_DAY
    else:
        code[matched & midnight] = END_ONLY
    us[code != OK] = 0
    return us, code


def format_instants(us: Int64s, *, suffix: str = " UTC") -> pa.Array[Any]:
    """Epoch microseconds → ``YYYY-MM-DD HH:MM:SS.ffffff`` + ``suffix`` strings (years 1-9999).

    The original feed's layout, formatted with numpy (pyarrow's strftime is
    about 50 times slower): each part is copied from a small table of its
    texts (the dates in the covered range, the 86,400 times of day, 000-999).
    """
    us = np.asarray(us, np.int64)
    tail = suffix.encode()
    width = 26 + len(tail)
    chars = np.empty((len(us), width), np.uint8)
    if len(us):
        if us.min() < _MIN_US or us.max() > _MAX_US:
            raise ValueError("instants outside years 1-9999 cannot be formatted")
        days, micro_of_day = np.divmod(us, US_PER_DAY)
        first_day = int(days.min())
        span = np.arange(first_day, int(days.max()) + 1, dtype=np.int64)
        year, month, day = _civil_from_days(span)
        chars[:, 0:10] = _digits([(year, 4), (month, 2), (day, 2)], b"-")[days - first_day]
        second_of_day, micro = np.divmod(micro_of_day, US_PER_SECOND)
        chars[:, 10] = ord(" ")
        chars[:, 11:19] = _times_of_day_text()[second_of_day]
        chars[:, 19] = ord(".")
        thousands = _digits([(np.arange(1000, dtype=np.int64), 3)], b"")
        chars[:, 20:23] = thousands[micro // 1000]
        chars[:, 23:26] = thousands[micro % 1000]
        chars[:, 26:] = np.frombuffer(tail, np.uint8)
    offsets = np.arange(0, (len(us) + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(
        len(us), pa.py_buffer(offsets.tobytes()), pa.py_buffer(chars.tobytes())
    )


def _digits(parts: list[tuple[Int64s, int]], separator: bytes) -> NDArray[np.uint8]:
    """Zero-padded decimal texts of equally long integer arrays, joined by ``separator``."""
    columns: list[NDArray[np.uint8]] = []
    for index, (values, count) in enumerate(parts):
        if index and separator:
            columns.append(np.full(len(values), separator[0], np.uint8))
        powers = 10 ** np.arange(count - 1, -1, -1, dtype=np.int64)
        columns.extend((values // power % 10 + ord("0")).astype(np.uint8) for power in powers)
    return np.stack(columns, axis=1)


@lru_cache(maxsize=1)
def _times_of_day_text() -> NDArray[np.uint8]:
    """``HH:MM:SS`` for every second of a day, as an (86400, 8) byte table."""
    second = np.arange(86_400, dtype=np.int64)
    return _digits([(second // 3600, 2), (second // 60 % 60, 2), (second % 60, 2)], b":")


def _civil_from_days(days: Int64s) -> tuple[Int64s, Int64s, Int64s]:
    """Days since 1970-01-01 → (year, month, day), vectorized (H. Hinnant)."""
    z = days + 719_468
    era = z // 146_097
    day_of_era = z - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + np.where(shifted_month < 10, 3, -9)
    year = year_of_era + era * 400 + (month <= 2)
    return year, month, day


def _parse_instant_chunk(chunk: pa.Array[Any], us: Int64s, code: Int8s) -> None:
    """Fill ``us``/``code`` (views for this chunk): fixed-width layouts first, then RE2."""
    if len(chunk) == 0:
        return
    chunk = chunk.cast(pa.string()) if chunk.type != pa.string() else chunk
    offsets = _view(chunk.buffers()[1], np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
    lengths = np.diff(offsets)
    first = int(lengths[0])
    if (
        first in _FAST_LAYOUTS
        and chunk.null_count == 0
        and offsets[-1] - offsets[0] == first * len(chunk)
    ):
        uniform = (lengths == first).all()  # the usual case: one layout for the whole chunk
    else:
        uniform = False
    widths = [first] if uniform else list(_FAST_LAYOUTS)
    valid = None if chunk.null_count == 0 else np.asarray(chunk.is_valid())
    for width in widths:
        has_fraction, suffix = _FAST_LAYOUTS[width]
        if uniform:
            selected, count, part = None, len(chunk), chunk
        else:
            selected = lengths == width
            if valid is not None:
                selected &= valid
            count = int(np.count_nonzero(selected))
            if count == 0:
                continue
            part = chunk.filter(pa.array(selected))
        part_offsets = _view(part.buffers()[1], np.int32)
        start = int(part_offsets[part.offset])
        data = _view(part.buffers()[2], np.uint8)[start : start + count * width]
        part_us, part_ok = _decode_fixed(data.reshape(count, width), has_fraction, suffix)
        if selected is None:
            us[:] = np.where(part_ok, part_us, 0)
            code[part_ok] = OK
        else:
            rows = np.flatnonzero(selected)[part_ok]
            us[rows] = part_us[part_ok]
            code[rows] = OK
    rest = np.flatnonzero(code != OK)
    if len(rest) == 0:
        return
    if len(rest) == len(chunk):
        rest_us, rest_code = _parse_instants_regex(chunk)
    else:
        rest_us, rest_code = _parse_instants_regex(chunk.take(rest))
    us[rest] = rest_us
    code[rest] = rest_code


def _decode_fixed(
    chars: NDArray[np.uint8], has_fraction: bool, suffix: bytes
) -> tuple[Int64s, NDArray[np.bool_]]:
    """Decode ``YYYY-MM-DD?HH:MM:SS[.ffffff][suffix]`` rows of a byte matrix.

    Two digits at a time: each byte pair, read as a little-endian uint16, is
    looked up in :data:`_PAIR_VALUE` (its value, or a flag bit when not digits).
    """
    n, width = chars.shape

    def pair(column: int) -> NDArray[np.int16]:
        view = np.ndarray((n,), dtype="<u2", buffer=chars, offset=column, strides=(width,))
        return cast("NDArray[np.int16]", _PAIR_VALUE[view])

    parts = [pair(column) for column in (0, 2, 5, 8, 11, 14, 17)]
    if has_fraction:
        parts += [pair(column) for column in (20, 22, 24)]
    flags = np.bitwise_or.reduce(parts)
    ok = flags < _NOT_DIGITS
    ok &= (chars[:, 4] == ord("-")) & (chars[:, 7] == ord("-"))
    ok &= (chars[:, 10] == ord(" ")) | (chars[:, 10] == ord("T")) | (chars[:, 10] == ord("t"))
    ok &= (chars[:, 13] == ord(":")) & (chars[:, 16] == ord(":"))
    tail = 19
    if has_fraction:
        ok &= chars[:, 19] == ord(".")
        tail = 26
    for column, letter in enumerate(suffix, start=tail):
        upper, lower = ord(chr(letter).upper()), ord(chr(letter).lower())
        ok &= (chars[:, column] == upper) | (chars[:, column] == lower)
    century, year_of_century, month, day, hour, minute, second = parts[:7]
    year = century.astype(np.int64) * 100 + year_of_century
    micro = np.zeros(n, np.int64)
    if has_fraction:
        micro += parts[7].astype(np.int64) * 10_000 + parts[8].astype(np.int64) * 100 + parts[9]
    us, real = _to_epoch_us(
        np.where(ok, year, 1970),
        np.where(ok, month, 1).astype(np.int64),
        np.where(ok, day, 1).astype(np.int64),
        hour.astype(np.int64),
        minute.astype(np.int64),
        second.astype(np.int64),
        micro,
    )
    return us, ok & real


def _parse_instants_regex(values: pa.Array[Any]) -> tuple[Int64s, Int8s]:
    """The general path: trim, match with RE2, then validate numerically."""
    fields = pc.extract_regex(pc.utf8_trim_whitespace(values), _INSTANT_RE)
    matched = _matched(fields)
    n = len(values)
    code = np.full(n, BAD_FORMAT, np.int8)
    if not matched.any():
        return np.zeros(n, np.int64), code
    offset_minutes = _field_int(fields, "oh") * 60 + _field_int(fields, "om")
    sign = np.where(
        np.asarray(pc.equal(pc.struct_field(fields, "sign"), pa.scalar("-")).fill_null(False)),
        -1,
        1,
    )
    offset_ok = (_field_int(fields, "oh") <= 23) & (_field_int(fields, "om") <= 59)
    us, real = _to_epoch_us(
        _field_int(fields, "y"),
        _field_int(fields, "mo"),
        _field_int(fields, "d"),
        _field_int(fields, "h"),
        _field_int(fields, "mi"),
        _field_int(fields, "s"),
        _fraction_us(fields, "f"),
        offset_us=sign * offset_minutes * 60 * US_PER_SECOND,
    )
    code[matched] = BAD_CALENDAR
    good = matched & real & offset_ok
    code[good] = OK
    return np.where(good, us, 0), code


def _to_epoch_us(
    year: Int64s,
    month: Int64s,
    day: Int64s,
    hour: Int64s,
    minute: Int64s,
    second: Int64s,
    micro: Int64s,
    *,
    offset_us: Int64s | None = None,
) -> tuple[Int64s, NDArray[np.bool_]]:
    """Civil date and time (minus a UTC offset) → epoch microseconds, and which are real."""
    days, real = _epoch_days(year, month, day)
    real &= (hour <= 23) & (minute <= 59) & (second <= 59)
    us = days * US_PER_DAY + ((hour * 60 + minute) * 60 + second) * US_PER_SECOND + micro
    if offset_us is not None:
        us -= offset_us
    real &= (us >= _MIN_US) & (us <= _MAX_US)
    return us, real


def _epoch_days(year: Int64s, month: Int64s, day: Int64s) -> tuple[Int64s, NDArray[np.bool_]]:
    """Days since 1970-01-01 of each date, and whether the date exists.

    Polls span a few days, so the dates are computed once per (year, month, day)
    in the covered range and looked up; wide ranges use the formula directly.
    """
    if len(year) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.bool_)
    in_range = (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    if not in_range.any():
        return _days_from_civil(year, month, day)
    key = np.where(in_range, (year * 13 + month) * 32 + day, -1)
    low, high = int(key[in_range].min()), int(key.max())
    if high - low > 1 << 16:
        return _days_from_civil(year, month, day)
    keys = np.arange(low, high + 1, dtype=np.int64)
    table_days, table_real = _days_from_civil(keys // 32 // 13, keys // 32 % 13, keys % 32)
    index = np.clip(key - low, 0, high - low)
    return table_days[index], table_real[index] & in_range


def _days_from_civil(year: Int64s, month: Int64s, day: Int64s) -> tuple[Int64s, NDArray[np.bool_]]:
    """Days since 1970-01-01 (H. Hinnant's algorithm, vectorized) and date validity."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31], np.int64)
    month_ok = (month >= 1) & (month <= 12)
    last_day = month_days[np.clip(month - 1, 0, 12)] + ((month == 2) & leap)
    real = month_ok & (day >= 1) & (day <= last_day)
    # numpy's // floors, as the algorithm needs
    y = year - (month <= 2)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468, np.asarray(real)


def _matched(fields: Column) -> NDArray[np.bool_]:
    return np.asarray(pc.is_valid(fields), dtype=bool)


def _field_int(fields: Column, name: str) -> Int64s:
    """A regex group as int64; missing groups (and unmatched rows) are 0."""
    column = pc.struct_field(fields, name)
    column = pc.if_else(pc.equal(column, pa.scalar("")), "0", column).fill_null("0")
    return np.asarray(pc.cast(column, pa.int64()), dtype=np.int64)


def _fraction_us(fields: Column, name: str) -> Int64s:
    """A fraction-of-second group → microseconds, digits past the sixth truncated."""
    column = pc.struct_field(fields, name).fill_null("")
    six = pc.utf8_rpad(pc.utf8_slice_codeunits(column, 0, 6), 6, "0")
    return np.asarray(pc.cast(six, pa.int64()), dtype=np.int64)


def _view(buffer: pa.Buffer | None, dtype: type[_T]) -> NDArray[_T]:
    """A zero-copy numpy view of an Arrow buffer."""
    assert buffer is not None
    return np.frombuffer(cast("bytes", buffer), dtype)
