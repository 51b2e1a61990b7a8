"""Canonical columnar schemas shared by ingest, store and engine.

Times are integers underneath: instants are ``timestamp[us, UTC]``; times of
day are microseconds since local midnight (``int64``), where an end time of
``24:00`` is ``86_400_000_000``. Stores are opaque strings.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import pyarrow as pa

US_PER_SECOND: Final = 1_000_000
US_PER_DAY: Final = 86_400 * US_PER_SECOND

Source = Literal["status", "hours", "timezones"]
SOURCES: Final[tuple[Source, ...]] = ("status", "hours", "timezones")

Interpolation = Literal["nearest", "previous"]
INTERPOLATIONS: Final[tuple[Interpolation, ...]] = ("nearest", "previous")

DEFAULT_TIMEZONE: Final = "America/Chicago"


def _schema(*fields: pa.Field[Any]) -> pa.Schema:
    return pa.schema(list(fields))


#: One status poll. ``active`` is True for ``active``, False for ``inactive``.
POLLS: Final = _schema(
    pa.field("store_id", pa.string(), nullable=False),
    pa.field("timestamp_utc", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("active", pa.bool_(), nullable=False),
)

#: One business-hours row, exactly as given (the engine applies SPEC's rules).
HOURS: Final = _schema(
    pa.field("store_id", pa.string(), nullable=False),
    pa.field("day_of_week", pa.int8(), nullable=False),  # 0 = Monday ... 6 = Sunday
    pa.field("start_local_us", pa.int64(), nullable=False),  # since local midnight
    pa.field("end_local_us", pa.int64(), nullable=False),  # 24:00 = US_PER_DAY
)

#: One store's IANA zone name (validated against zoneinfo at ingest).
TIMEZONES: Final = _schema(
    pa.field("store_id", pa.string(), nullable=False),
    pa.field("timezone_str", pa.string(), nullable=False),
)

#: One rejected input row: where it was and why.
REJECTS: Final = _schema(
    pa.field("source", pa.string(), nullable=False),
    pa.field("file", pa.string(), nullable=False),
    pa.field("line", pa.int64(), nullable=False),  # 1-based physical line; header is 1
    pa.field("reason", pa.string(), nullable=False),
    pa.field("raw", pa.string(), nullable=False),
    # the row's store id when that field itself was valid (the row failed elsewhere)
    pa.field("store_id", pa.string(), nullable=True),
)

#: The report, columns in SPEC order. Values are exact durations rounded half up
#: to hundredths (minutes for _last_hour, hours otherwise).
REPORT_COLUMNS: Final = (
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
)
REPORT: Final = pa.schema(
    [pa.field("store_id", pa.string(), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=False) for name in REPORT_COLUMNS[1:]]
)

#: Which schema each source produces.
SCHEMAS: Final[dict[Source, pa.Schema]] = {
    "status": POLLS,
    "hours": HOURS,
    "timezones": TIMEZONES,
}


def empty(schema: pa.Schema) -> pa.Table:
    """An empty table of ``schema``."""
    return schema.empty_table()
