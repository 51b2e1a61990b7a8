"""What a finished report says beside its CSV: warnings a reader must not miss.

A report is computed correctly from what the database holds, but some of its numbers
may rest on extrapolation rather than observation. The summary names those cases, so
the API's job JSON, the CSV download's headers, the log and the CLI all say them:

- ``no_polls``: no poll is at or before as_of, so the report has no rows;
- ``as_of_after_polls``: as_of lies more than ``observed_within`` after the latest poll
  at or before it (in the future, or after data stopped arriving): the report's end is
  extrapolated from that poll;
- ``stale_stores``: stores with no poll within ``observed_within`` of the longest
  window — every figure of theirs extrapolates an older poll (a store that stopped
  reporting looks perfectly up);
- ``hours_rejected`` / ``timezone_rejected``: stores open 24x7 / in America/Chicago only
  because every hours / timezone row given for them was rejected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from storemon.engine import Report
from storemon.engine.options import MINUTE_US, ReportOptions
from storemon.instants import to_epoch_us
from storemon.store.base import SettingsFallbacks

__all__ = [
    "SHOWN_IDS",
    "ReportFacts",
    "fallback_warnings",
    "fallbacks_of",
    "report_summary",
    "stored_warnings",
    "summary_of",
]

#: How many store ids a warning lists (all are counted).
SHOWN_IDS: Final = 10


def stored_warnings(summary: str | None) -> list[tuple[str, str]]:
    """(code, message) of each warning in a job's stored summary JSON (a plain string
    warning has the code ``warning``)."""
    if not summary:
        return []
    try:
        found = json.loads(summary).get("warnings", [])
    except (ValueError, AttributeError):
        return []
    out = []
    for warning in found if isinstance(found, list) else []:
        if isinstance(warning, dict):
            out.append((str(warning.get("code", "warning")), str(warning.get("message", ""))))
        else:
            out.append(("warning", str(warning)))
    return out


def _warning(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"code": code, "message": message, **extra}


def fallbacks_of(
    stores: pa.Array[Any] | pa.ChunkedArray[Any],
    hours: pa.Table,
    hours_rejects: pa.Table,
    timezones: pa.Table,
    zone_rejects: pa.Table,
    *,
    limit: int = SHOWN_IDS,
) -> SettingsFallbacks:
    """:class:`SettingsFallbacks` of files read (not stored): of the ``stores`` with polls
    (their ids, repeats allowed), those with rejected rows naming them in a source and no
    valid row there."""

    def fallen(valid: pa.Table, rejects: pa.Table) -> list[str]:
        named = pc.unique(rejects.column("store_id").drop_null())
        if not len(named):  # the usual case: the polls are not even looked at
            return []
        kept = pc.unique(valid.column("store_id"))
        ids = named.filter(pc.invert(pc.is_in(named, value_set=kept)))
        if not len(ids):
            return []
        # a hash of the few ids, not of every poll's
        polled = stores if isinstance(stores, pa.ChunkedArray) else pa.chunked_array([stores])
        polled = polled.cast(pa.string())
        ids = pc.unique(polled.filter(pc.is_in(polled, value_set=ids)))
        return sorted((str(i) for i in ids.to_pylist()), key=lambda i: i.encode())

    open_all_week = fallen(hours, hours_rejects)
    default_zone = fallen(timezones, zone_rejects)
    return SettingsFallbacks(
        open_all_week[:limit], len(open_all_week), default_zone[:limit], len(default_zone)
    )


def fallback_warnings(fallbacks: SettingsFallbacks) -> list[dict[str, object]]:
    """Warnings for stores on default settings because every row given for them was
    rejected (correct by SPEC, but a reader would not guess it)."""
    found = []
    for code, count, ids, one, many, source in (
        (
            "hours_rejected",
            fallbacks.open_all_week_count,
            fallbacks.open_all_week,
            "store is open 24x7 because all its business-hours rows were rejected",
            "stores are open 24x7 because all their business-hours rows were rejected",
            "hours",
        ),
        (
            "timezone_rejected",
            fallbacks.default_zone_count,
            fallbacks.default_zone,
            "store uses America/Chicago because all its timezone rows were rejected",
            "stores use America/Chicago because all their timezone rows were rejected",
            "timezones",
        ),
    ):
        if not count:
            continue
        more = f" and {count - len(ids):,} more" if count > len(ids) else ""
        message = (
            f"{count:,} {one if count == 1 else many}: {', '.join(ids)}{more} "
            f"(storemon rejects --source {source})"
        )
        found.append(_warning(code, message, count=count, store_ids=ids))
    return found


def report_summary(
    report: Report,
    options: ReportOptions,
    latest_poll: datetime | None,
    fallbacks: SettingsFallbacks | None = None,
) -> dict[str, object]:
    """The JSON-able summary of a computed report: ``{"warnings": [...], ...}``.

    ``latest_poll`` is the latest poll at or before the report's as_of (None: none).
    """
    stale = report.stale_store_ids
    return summary_of(
        ReportFacts(
            as_of=report.as_of,
            latest_poll=latest_poll,
            rows=report.table.num_rows,
            stale_count=len(stale),
            stale_shown=[str(s) for s in stale.slice(0, SHOWN_IDS).to_pylist()],
        ),
        options,
        fallbacks,
    )


@dataclass(frozen=True)
class ReportFacts:
    """What a report's summary is made of: a whole report's, or (added up by
    :meth:`joined`) those of the partitions of one, which give the same summary."""

    as_of: datetime | None
    latest_poll: datetime | None  # the latest poll at or before as_of
    rows: int
    stale_count: int
    stale_shown: list[str]  # the first SHOWN_IDS stale stores, byte order

    @staticmethod
    def joined(parts: list[ReportFacts]) -> ReportFacts:
        """The facts of disjoint ranges of stores, given in byte order of their ids."""
        instants = [p.as_of for p in parts if p.as_of is not None]
        latest = [p.latest_poll for p in parts if p.latest_poll is not None]
        return ReportFacts(
            as_of=instants[0] if instants else None,
            latest_poll=max(latest) if latest else None,
            rows=sum(p.rows for p in parts),
            stale_count=sum(p.stale_count for p in parts),
            stale_shown=[i for p in parts for i in p.stale_shown][:SHOWN_IDS],
        )


def summary_of(
    facts: ReportFacts, options: ReportOptions, fallbacks: SettingsFallbacks | None = None
) -> dict[str, object]:
    """The summary (see :func:`report_summary`) of a report with these facts."""
    warnings: list[dict[str, object]] = []
    minutes = options.observed_within_us / MINUTE_US
    if facts.as_of is None:
        warnings.append(
            _warning(
                "no_polls",
                "no polls at or before as_of: the report has no rows; give a later as_of, "
                "or ingest polls (storemon ingest, POST /ingest/status)",
            )
        )
    elif facts.latest_poll is not None:
        gap_us = to_epoch_us(facts.as_of) - to_epoch_us(facts.latest_poll)
        if gap_us > options.observed_within_us:
            warnings.append(
                _warning(
                    "as_of_after_polls",
                    f"as_of {facts.as_of:%Y-%m-%d %H:%M:%S} UTC is {_duration(gap_us)} "
                    f"after the latest poll ({facts.latest_poll:%Y-%m-%d %H:%M:%S} UTC): the "
                    "figures after it extrapolate each store's last poll",
                    seconds=gap_us / 1_000_000,
                )
            )
    if facts.stale_count:
        shown = facts.stale_shown
        count = facts.stale_count
        more = f" and {count - len(shown):,} more" if count > len(shown) else ""
        warnings.append(
            _warning(
                "stale_stores",
                f"{count:,} of {facts.rows:,} stores have no poll within "
                f"{minutes:g} minutes of the report's longest window, so their figures "
                f"extrapolate an older poll: {', '.join(shown)}{more}",
                count=count,
                store_ids=shown,
            )
        )
    if fallbacks is not None and facts.as_of is not None:
        warnings += fallback_warnings(fallbacks)
    return {"warnings": warnings, "stale_stores": facts.stale_count}


def _duration(us: int) -> str:
    minutes = us // 60_000_000
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
