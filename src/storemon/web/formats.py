"""Numbers and instants as the pages show them: always with their unit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "FILTERS",
    "amount",
    "count",
    "hours",
    "instant_utc",
    "local",
    "minutes",
    "parse_utc",
    "percent",
]


def parse_utc(text: str) -> datetime:
    """An API instant (``2023-01-25T17:00:00Z``) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def count(value: int | float | None) -> str:
    """``14,092``."""
    return "–" if value is None else f"{value:,.0f}"


def percent(value: float | None, digits: int = 1) -> str:
    """``89.1 %``."""
    return "–" if value is None else f"{value:,.{digits}f} %"


def hours(value: float | None) -> str:
    """``1,234.5 h``."""
    return "–" if value is None else f"{value:,.2f} h"


def minutes(value: float | None) -> str:
    """``225 min`` below two hours' worth, ``3 h 45 min`` above."""
    if value is None:
        return "–"
    if value < 120:
        return f"{value:,.2f} min".replace(".00 min", " min")
    whole = round(value)
    return f"{whole // 60:,} h {whole % 60:02d} min"


def instant_utc(text: str | None) -> str:
    """``2023-01-25 17:00 UTC`` (seconds when not zero)."""
    if not text:
        return "–"
    moment = parse_utc(text)
    shown = "%Y-%m-%d %H:%M:%S" if moment.second or moment.microsecond else "%Y-%m-%d %H:%M"
    return moment.strftime(shown) + " UTC"


def local(text: str | None, zone: str) -> str:
    """The instant in ``zone``: ``Wed 2023-01-25 12:00 EST``."""
    if not text:
        return "–"
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return instant_utc(text)
    moment = parse_utc(text).astimezone(tz)
    shown = "%a %Y-%m-%d %H:%M:%S" if moment.second else "%a %Y-%m-%d %H:%M"
    return f"{moment.strftime(shown)} {moment.tzname()}"


def amount(value: float | int | None, unit: str) -> str:
    """A table cell: ``12.50 h``, ``60 min`` or a count."""
    if value is None:
        return "–"
    if unit == "min":
        return minutes(float(value))
    if unit == "h":
        return hours(float(value))
    return count(value)


FILTERS: Final = {
    "amount": amount,
    "count": count,
    "percent": percent,
    "hours": hours,
    "minutes": minutes,
    "utc": instant_utc,
    "local": local,
}
