"""Keeping history bounded: whole UTC weeks of polls, and what ``prune`` removes.

Both backends count history in **UTC weeks that start on Monday 00:00 UTC**:
PostgreSQL's ``polls`` has one partition per such week (:mod:`storemon.store.postgres.
partitions`), and ``prune`` on either backend removes the polls of the whole weeks that
end on or before the cut, except each store's last poll before that boundary (a report
whose window starts after the cut needs it: the state at the start of its window is
extrapolated from it, SPEC Part 1). So both backends keep exactly the same polls.

The cut is measured back from the **latest poll stored**, not from the wall clock, as a
report's default ``as_of`` is: ``--older-than 8w`` on a database whose latest poll is
2023-01-25 keeps the weeks from 2022-11-28 on.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from storemon.errors import InvalidRequest
from storemon.instants import from_epoch_us, to_epoch_us
from storemon.periodic import Periodic

if TYPE_CHECKING:
    from storemon.store.base import DataStore

log = logging.getLogger("storemon.prune")

__all__ = [
    "MIN_OLDER_THAN",
    "WEEK_US",
    "PruneResult",
    "PruneSchedule",
    "boundary_of",
    "check_older_than",
    "parse_older_than",
    "prune",
    "prune_step",
    "week_start_us",
]

WEEK_US: Final = 7 * 86_400 * 1_000_000
#: 1970-01-05 00:00 UTC, the first Monday after the epoch (week boundaries are Mondays).
_MONDAY_US: Final = 4 * 86_400 * 1_000_000
#: A prune closer to the latest poll than this removes polls of a default report's own
#: window (the last week); it needs ``force``.
MIN_OLDER_THAN: Final = timedelta(days=7)
_AGE: Final = re.compile(r"([0-9]{1,6})([hdw])")
_UNITS: Final = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_EXAMPLES: Final = "e.g. 30d, 8w or 720h"


def week_start_us(us: int) -> int:
    """The Monday 00:00 UTC at or before ``us`` (epoch microseconds)."""
    return (us - _MONDAY_US) // WEEK_US * WEEK_US + _MONDAY_US


def parse_older_than(text: str) -> timedelta:
    """An age written ``<N>h``, ``<N>d`` or ``<N>w`` (N a positive whole number)."""
    match = _AGE.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise InvalidRequest(
            f"--older-than {text.strip()!r} is not understood: write a positive whole number "
            f"and a unit h, d or w ({_EXAMPLES})"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def check_older_than(older_than: timedelta, *, force: bool) -> None:
    """InvalidRequest when the age would cut into the last week of polls, unless ``force``."""
    if older_than <= timedelta(0):
        raise InvalidRequest(f"--older-than must be positive ({_EXAMPLES})")
    if older_than < MIN_OLDER_THAN and not force:
        raise InvalidRequest(
            f"--older-than {_written(older_than)} would remove polls from the last week before "
            "the latest poll, which a default report reads (its last_week window); give at "
            "least 7d, or add --force to prune that close anyway"
        )


def _written(age: timedelta) -> str:
    hours = int(age.total_seconds()) // 3600
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (or, with ``dry_run``, would remove).

    ``boundary`` is the Monday 00:00 UTC at or before ``cut``: polls before it go, except
    each store's last one before it (``kept``). ``partitions`` counts the weekly
    PostgreSQL partitions dropped (0 on DuckDB). ``data_version`` is the version after the
    prune; it is bumped only when a poll was removed.
    """

    cut: datetime
    boundary: datetime
    removed: int
    kept: int
    partitions: int
    dry_run: bool
    data_version: int

    @property
    def changed(self) -> bool:
        return self.removed > 0 and not self.dry_run

    def as_dict(self) -> dict[str, object]:
        return {
            "cut": self.cut.isoformat(),
            "boundary": self.boundary.isoformat(),
            "removed": self.removed,
            "kept": self.kept,
            "partitions": self.partitions,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "data_version": self.data_version,
        }


def boundary_of(cut: datetime) -> datetime:
    """The week boundary a prune at ``cut`` removes polls before."""
    return from_epoch_us(week_start_us(to_epoch_us(cut.astimezone(UTC))))


def prune_step(stage: str) -> None:
    """Called by the backends between a prune's statements, inside its transaction.

    Does nothing; tests replace it to raise at a given stage and check that the
    database is left as it was.
    """


def prune(
    store: DataStore, older_than: timedelta, *, dry_run: bool = False, force: bool = False
) -> PruneResult | None:
    """Prune the polls older than ``older_than`` before the latest poll (whole weeks,
    keepers kept); None when there are no polls. InvalidRequest for an age under
    :data:`MIN_OLDER_THAN` without ``force``."""
    check_older_than(older_than, force=force)
    latest = store.latest_poll_utc()
    if latest is None:
        return None
    return store.prune_polls(latest - older_than, dry_run=dry_run)


class PruneSchedule(Periodic):
    """Prunes ``store`` every ``interval_seconds`` (first at start) in a daemon thread,
    until :meth:`stop`: what ``storemon serve`` runs with ``STOREMON_PRUNE_OLDER_THAN``."""

    def __init__(self, store: DataStore, older_than: timedelta, interval_seconds: float) -> None:
        super().__init__(interval_seconds, "storemon-prune", log)
        check_older_than(older_than, force=False)
        self.store = store
        self.older_than = older_than
        self.last: PruneResult | None = None

    def run_once(self) -> None:
        result = prune(self.store, self.older_than)
        self.last = result
        if result is not None and result.changed:
            log.info(
                "pruned %d polls before %s (kept %d, %d partitions dropped)",
                result.removed,
                result.boundary.isoformat(),
                result.kept,
                result.partitions,
            )

    def failure(self) -> str:
        return f"pruning polls older than {self.older_than} failed"
