"""Instants as storemon passes them around: aware UTC datetimes and epoch microseconds.

Pure functions, the one copy of these conversions: the engine, the ingest reader and
both stores use them. A naive datetime is taken to be UTC already. Exact for every
datetime (years 1 to 9999): integer arithmetic, no float.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["EPOCH", "from_epoch_us", "to_epoch_us", "to_naive_utc", "to_utc"]

#: 1970-01-01 00:00 UTC.
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_naive_utc(value: datetime) -> datetime:
    """A naive datetime in UTC (for a TIMESTAMP column holding UTC instants)."""
    return to_utc(value).replace(tzinfo=None)


def from_epoch_us(value: int) -> datetime:
    """The aware UTC instant ``value`` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=value)


def to_epoch_us(value: datetime) -> int:
    """Microseconds since the epoch of an instant (naive = UTC)."""
    return (to_utc(value) - EPOCH) // _ONE_US
