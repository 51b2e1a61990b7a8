"""Per-source row rules: typed columns from string columns, and a reason per bad row.

Each rule function gets the file's string columns (one per required column,
untrimmed, in file order) and returns the typed columns of the source's schema
plus the problems found. A problem is a pair (row indices, messages); a row can
have several, which the reader joins with ``"; "``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, TypeAlias, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon.ingest import timestamps
from storemon.schema import Source

Strings: TypeAlias = "pa.ChunkedArray[Any]"
Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"
Rows: TypeAlias = NDArray[np.int64]
Problem: TypeAlias = "tuple[Rows, pa.Array[Any]]"

#: Required columns per source: (canonical name, accepted lower-case header names).
COLUMNS: Final[dict[Source, tuple[tuple[str, tuple[str, ...]], ...]]] = {
    "status": (
        ("store_id", ("store_id",)),
        ("status", ("status",)),
        ("timestamp_utc", ("timestamp_utc",)),
    ),
    "hours": (
        ("store_id", ("store_id",)),
        ("dayOfWeek", ("dayofweek", "day", "day_of_week")),
        ("start_time_local", ("start_time_local",)),
        ("end_time_local", ("end_time_local",)),
    ),
    "timezones": (
        ("store_id", ("store_id",)),
        ("timezone_str", ("timezone_str",)),
    ),
}

# Zone keys that exist in some tz databases but mean nothing portable.
_NOT_ZONES: Final = frozenset({"localtime", "posixrules"})


@dataclass(frozen=True)
class Checked:
    """Typed columns (all rows, bad ones hold placeholders) and the problems found."""

    columns: dict[str, Column]
    problems: list[Problem]
    bad_ids: Rows  # rows whose store id itself is unusable (empty or too long), ascending


def check(source: Source, columns: Sequence[Strings], names: Sequence[str]) -> Checked:
    """Apply the rules of ``source``; ``names`` are the header's names for messages."""
    return _RULES[source](columns, names)


def _check_status(columns: Sequence[Strings], names: Sequence[str]) -> Checked:
    store_ids, problems = _store_ids(columns[0], names[0])
    status = columns[1]
    active = pc.equal(status, pa.scalar("active"))
    known = pc.or_(active, pc.equal(status, pa.scalar("inactive")))
    if not pc.all(known).as_py():
        normal = pc.utf8_lower(pc.utf8_trim_whitespace(status))
        active = pc.equal(normal, pa.scalar("active"))
        known = pc.or_(active, pc.equal(normal, pa.scalar("inactive")))
        problems.append(
            _messages(
                status,
                _rows(pc.invert(known)),
                f"unknown {names[1]} '",
                "' (expected active or inactive)",
            )
        )
    us, code = timestamps.parse_instants(columns[2])
    problems += _instant_problems(columns[2], code, names[2])
    return Checked(
        {
            "store_id": store_ids,
            "timestamp_utc": pa.array(us, pa.timestamp("us", tz="UTC")),
            "active": active,
        },
        problems,
        _bad_ids(problems),
    )


def _check_hours(columns: Sequence[Strings], names: Sequence[str]) -> Checked:
    store_ids, problems = _store_ids(columns[0], names[0])
    day_text = pc.utf8_trim_whitespace(columns[1])
    day_ok = pc.match_substring_regex(day_text, r"^[0-6]$")
    problems.append(
        _messages(
            columns[1],
            _rows(pc.invert(day_ok)),
            f"{names[1]} '",
            "' is not a weekday number (expected 0 = Monday ... 6 = Sunday)",
        )
    )
    day = cast("Column", pc.cast(pc.if_else(day_ok, day_text, "0"), pa.int8()))
    start_us, start_code = timestamps.parse_times_of_day(columns[2], end=False)
    end_us, end_code = timestamps.parse_times_of_day(columns[3], end=True)
    problems += _time_problems(columns[2], start_code, names[2])
    problems += _time_problems(columns[3], end_code, names[3])
    return Checked(
        {
            "store_id": store_ids,
            "day_of_week": day,
            "start_local_us": pa.array(start_us, pa.int64()),
            "end_local_us": pa.array(end_us, pa.int64()),
        },
        problems,
        _bad_ids(problems),
    )


def _check_timezones(columns: Sequence[Strings], names: Sequence[str]) -> Checked:
    store_ids, problems = _store_ids(columns[0], names[0])
    zones = pc.utf8_trim_whitespace(columns[1])
    distinct = pc.unique(zones).to_pylist()
    complaints = {name: _zone_problem(name) for name in distinct if name is not None}
    bad = [name for name, complaint in complaints.items() if complaint is not None]
    if bad:
        rows = _rows(pc.is_in(zones, pa.array(bad, pa.string())))
        which = pc.index_in(zones.take(rows), pa.array(bad, pa.string()))
        texts = pa.array([f"{names[1]} {complaints[name]}" for name in bad], pa.string())
        problems.append((rows, _flat(pc.take(texts, which))))
    return Checked({"store_id": store_ids, "timezone_str": zones}, problems, _bad_ids(problems))


# The stubs do not know that scalars broadcast against arrays here.
_join = cast("Callable[..., Column]", pc.binary_join_element_wise)

_RULES: Final[dict[Source, Callable[[Sequence[Strings], Sequence[str]], Checked]]] = {
    "status": _check_status,
    "hours": _check_hours,
    "timezones": _check_timezones,
}


#: The longest store id taken, in UTF-8 bytes: far above real ids, and far below what
#: one database index entry holds (PostgreSQL's B-tree: 2,704 bytes), so a single odd
#: row is rejected on its own instead of failing a whole ingest.
MAX_STORE_ID_BYTES: Final = 1024


def _store_ids(column: Strings, name: str) -> tuple[Column, list[Problem]]:
    trimmed = pc.utf8_trim_whitespace(column)
    empty = _rows(pc.equal(trimmed, pa.scalar("")))
    messages = pa.array([f"empty {name} (every row needs a store id)"] * len(empty), pa.string())
    lengths = pc.binary_length(trimmed)
    long = _rows(pc.greater(lengths, pa.scalar(MAX_STORE_ID_BYTES)))
    too_long = pa.array(
        [
            f"{name} is {n:,} bytes long (at most {MAX_STORE_ID_BYTES:,} bytes)"
            for n in lengths.take(long).to_pylist()  # per rejected row only
        ],
        pa.string(),
    )
    return trimmed, [(empty, messages), (long, too_long)]


def _bad_ids(problems: list[Problem]) -> Rows:
    """The rows of the first two problems, which :func:`_store_ids` puts first."""
    return np.union1d(problems[0][0], problems[1][0]).astype(np.int64)


#: A store id that a spreadsheet wrote in scientific notation (``8.42E+18``): digits lost.
_SCIENTIFIC: Final = r"^[0-9](\.[0-9]+)?[eE]\+?[0-9]+$"


def scientific_ids(store_ids: Column) -> Rows:
    """Rows whose (trimmed) store id looks like a number in scientific notation."""
    return _rows(pc.match_substring_regex(store_ids, _SCIENTIFIC))


def _instant_problems(column: Strings, code: NDArray[np.int8], name: str) -> list[Problem]:
    return [
        _messages(
            column,
            np.flatnonzero(code == timestamps.BAD_FORMAT),
            f"cannot read {name} '",
            f"' (expected {timestamps.INSTANT_SHORT})",
        ),
        _messages(
            column,
            np.flatnonzero(code == timestamps.BAD_CALENDAR),
            f"{name} '",
            "' is not a real date and time (check month, day, hour, minute, second, offset)",
        ),
    ]


def _time_problems(column: Strings, code: NDArray[np.int8], name: str) -> list[Problem]:
    return [
        _messages(
            column,
            np.flatnonzero(code == timestamps.BAD_FORMAT),
            f"cannot read {name} '",
            f"' (expected {timestamps.TIME_FORMS})",
        ),
        _messages(
            column,
            np.flatnonzero(code == timestamps.BAD_CALENDAR),
            f"{name} '",
            "' is not a time of day (expected 00:00 to 23:59:59.999999)",
        ),
        _messages(
            column,
            np.flatnonzero(code == timestamps.END_ONLY),
            f"{name} '",
            "' is allowed as an end time only (use 00:00 for a start at midnight)",
        ),
    ]


def _zone_problem(name: str) -> str | None:
    """Why ``name`` is not a usable IANA zone, or None when it is."""
    if name in _zone_names():
        return None
    if not name:
        return "is empty (expected an IANA zone name such as 'America/Chicago')"
    suggestion = _zone_names_lower().get(name.lower())
    hint = f"did you mean '{suggestion}'?" if suggestion else "expected e.g. 'America/Chicago'"
    return f"'{name}' is not a known IANA time zone ({hint})"


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


@lru_cache(maxsize=1)
def _zone_names_lower() -> dict[str, str]:
    return {name.lower(): name for name in sorted(_zone_names())}


def _rows(mask: Column) -> Rows:
    """Indices where a boolean column is true (nulls count as false)."""
    filled = pc.fill_null(mask, pa.scalar(False))
    return np.flatnonzero(np.asarray(filled, dtype=np.bool_)).astype(np.int64)


def _messages(column: Strings, rows: Rows, before: str, after: str) -> Problem:
    """``before + value + after`` for the given rows, built in one vectorized pass."""
    if len(rows) == 0:
        return rows, pa.array([], pa.string())
    values = pc.utf8_slice_codeunits(column.take(rows), 0, 80)
    return rows, _flat(_join(pa.scalar(before), values, pa.scalar(after), ""))


def _flat(column: Column) -> pa.Array[Any]:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
