"""What a report is asked for beyond as_of and interpolation (SPEC Part 2): its windows, the
extended columns, ``observed_within`` and the accounting policy for unobserved time.

Everything here is plain data, validated once: a bad value raises
:class:`~storemon.errors.InvalidRequest` with what to write instead, so the CLI and the API
give the same message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from storemon.errors import InvalidRequest

MINUTE_US: Final = 60_000_000
HOUR_US: Final = 60 * MINUTE_US
DAY_US: Final = 24 * HOUR_US
#: The longest window SPEC allows.
MAX_WINDOW_US: Final = 366 * DAY_US
_UNITS: Final = {"m": MINUTE_US, "h": HOUR_US, "d": DAY_US, "w": 7 * DAY_US}
_WINDOW: Final = re.compile(r"([0-9]+)([mhdw])")
#: SPEC's names for the three classic lengths, however they are written.
_NAMED: Final = {
    HOUR_US: ("last_hour", "1h"),
    DAY_US: ("last_day", "24h"),
    7 * DAY_US: ("last_week", "168h"),
}
_EXAMPLES: Final = "e.g. 1h, 24h, 168h, 30m, 30d or 2w"

Unobserved = Literal["extrapolate", "exclude"]
UNOBSERVED_POLICIES: Final[tuple[Unobserved, ...]] = ("extrapolate", "exclude")
DEFAULT_OBSERVED_WITHIN_MINUTES: Final = 60


@dataclass(frozen=True)
class Window:
    """A rolling window ``[as_of - length, as_of)`` and how its columns are named and counted."""

    text: str  # canonical spelling: "1h", "24h", "168h" for the named ones, else as written
    length_us: int
    name: str  # last_hour, last_day, last_week or last_<text>

    @property
    def unit_us(self) -> int:
        """A window of at most one hour is reported in minutes, a longer one in hours."""
        return MINUTE_US if self.length_us <= HOUR_US else HOUR_US

    @property
    def unit_name(self) -> str:
        return "minutes" if self.unit_us == MINUTE_US else "hours"


def parse_window(text: str) -> Window:
    """One window written ``<N>m|h|d|w`` (N a positive integer, at most 366 days)."""
    written = text.strip().lower()
    match = _WINDOW.fullmatch(written)
    if match is None:
        raise InvalidRequest(
            f"window {text.strip()!r} is not understood: write a positive whole number and a "
            f"unit m, h, d or w ({_EXAMPLES})"
        )
    number, unit = int(match.group(1)), match.group(2)
    length = number * _UNITS[unit]
    if length <= 0:
        raise InvalidRequest(
            f"window {text.strip()!r} is empty: give a positive length ({_EXAMPLES})"
        )
    if length > MAX_WINDOW_US:
        raise InvalidRequest(
            f"window {text.strip()!r} is longer than the longest allowed, 366 days "
            "(write at most 366d, 52w or 8784h)"
        )
    named = _NAMED.get(length)
    if named is not None:
        return Window(named[1], length, named[0])
    return Window(written, length, f"last_{written}")


def parse_windows(spec: str | Sequence[str]) -> tuple[Window, ...]:
    """A comma-separated list (or a sequence) of windows; names must be distinct."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    if not [part for part in parts if part.strip()]:
        raise InvalidRequest(f"no window given: write a comma-separated list ({_EXAMPLES})")
    windows = tuple(parse_window(part) for part in parts)
    seen: dict[str, str] = {}
    for part, window in zip(parts, windows, strict=True):
        if window.name in seen:
            raise InvalidRequest(
                f"windows {seen[window.name]!r} and {part.strip()!r} both give the columns "
                f"*_{window.name}: list each window once"
            )
        seen[window.name] = part.strip()
    return windows


DEFAULT_WINDOWS: Final = parse_windows("1h,24h,168h")


@dataclass(frozen=True)
class ReportOptions:
    """A report's windows and Part 2 choices; the defaults give exactly the Part 1 report."""

    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    extended: bool = False
    observed_within_us: int = DEFAULT_OBSERVED_WITHIN_MINUTES * MINUTE_US
    unobserved: Unobserved = "extrapolate"

    @property
    def longest_us(self) -> int:
        return max(window.length_us for window in self.windows)

    @property
    def needs_observation(self) -> bool:
        """Whether observed/unobserved time must be measured."""
        return self.extended or self.unobserved == "exclude"

    def to_json(self) -> str:
        """Canonical JSON: only what differs from the defaults, keys sorted ("{}" for defaults).

        Two requests that give the same output give the same text (``24h`` and ``1d`` are one
        window), so jobs can be shared by comparing it.
        """
        given: dict[str, object] = {}
        if self.windows != DEFAULT_WINDOWS:
            given["windows"] = [window.text for window in self.windows]
        if self.extended:
            given["extended"] = True
        if self.observed_within_us != DEFAULT_OBSERVED_WITHIN_MINUTES * MINUTE_US:
            given["observed_within_minutes"] = _minutes(self.observed_within_us)
        if self.unobserved != "extrapolate":
            given["unobserved"] = self.unobserved
        return json.dumps(given, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ReportOptions:
        """The options :meth:`to_json` wrote."""
        data = json.loads(text or "{}")
        if not isinstance(data, dict):
            raise InvalidRequest(f"report options must be a JSON object, not {text!r}")
        windows = data.get("windows")
        return report_options(
            windows=None if windows is None else ",".join(str(w) for w in windows),
            extended=bool(data.get("extended", False)),
            observed_within_minutes=data.get("observed_within_minutes"),
            unobserved=data.get("unobserved"),
        )


def _minutes(us: int) -> int | float:
    whole, rest = divmod(us, MINUTE_US)
    return whole if rest == 0 else us / MINUTE_US


def observed_within_us(minutes: object) -> int:
    """``observed_within`` in whole microseconds from a positive number of minutes."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise InvalidRequest(
            f"observed_within must be a positive number of minutes (e.g. 60), not {minutes!r}"
        )
    if not minutes > 0 or minutes != minutes or minutes == float("inf"):
        raise InvalidRequest(
            f"observed_within must be a positive number of minutes (e.g. 60), not {minutes!r}"
        )
    us = round(minutes * MINUTE_US)
    if us > MAX_WINDOW_US:
        raise InvalidRequest(
            f"observed_within of {minutes!r} minutes is longer than the longest window "
            "(366 days = 527040 minutes): give fewer minutes"
        )
    return max(us, 1)


def report_options(
    *,
    windows: str | Sequence[str] | None = None,
    extended: bool = False,
    observed_within_minutes: object = None,
    unobserved: object = None,
) -> ReportOptions:
    """Validated options from what a caller wrote (None: the default)."""
    policy: Unobserved = "extrapolate"
    if unobserved is not None:
        if unobserved not in UNOBSERVED_POLICIES:
            raise InvalidRequest(
                f"unobserved {unobserved!r} is not understood: use 'extrapolate' (count it "
                "as uptime or downtime, the default) or 'exclude' (three-state accounting)"
            )
        policy = "exclude" if unobserved == "exclude" else "extrapolate"
    return ReportOptions(
        windows=DEFAULT_WINDOWS if windows is None else parse_windows(windows),
        extended=extended,
        observed_within_us=(
            DEFAULT_OBSERVED_WITHIN_MINUTES * MINUTE_US
            if observed_within_minutes is None
            else observed_within_us(observed_within_minutes)
        ),
        unobserved=policy,
    )


__all__ = [
    "DEFAULT_OBSERVED_WITHIN_MINUTES",
    "DEFAULT_WINDOWS",
    "MAX_WINDOW_US",
    "UNOBSERVED_POLICIES",
    "ReportOptions",
    "Unobserved",
    "Window",
    "observed_within_us",
    "parse_window",
    "parse_windows",
    "report_options",
]
