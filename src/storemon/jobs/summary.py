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
  reporting looks perfectly up).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

from storemon.engine import Report
from storemon.engine.options import MINUTE_US, ReportOptions
from storemon.instants import to_epoch_us

__all__ = ["SHOWN_IDS", "report_summary", "stored_warnings"]

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


def report_summary(
    report: Report, options: ReportOptions, latest_poll: datetime | None
) -> dict[str, object]:
    """The JSON-able summary of a computed report: ``{"warnings": [...], ...}``.

    ``latest_poll`` is the latest poll at or before the report's as_of (None: none).
    """
    warnings: list[dict[str, object]] = []
    minutes = options.observed_within_us / MINUTE_US
    if report.as_of is None:
        warnings.append(
            _warning(
                "no_polls",
                "no polls at or before as_of: the report has no rows; give a later as_of, "
                "or ingest polls (storemon ingest, POST /ingest/status)",
            )
        )
    elif latest_poll is not None:
        gap_us = to_epoch_us(report.as_of) - to_epoch_us(latest_poll)
        if gap_us > options.observed_within_us:
            warnings.append(
                _warning(
                    "as_of_after_polls",
                    f"as_of {report.as_of:%Y-%m-%d %H:%M:%S} UTC is {_duration(gap_us)} "
                    f"after the latest poll ({latest_poll:%Y-%m-%d %H:%M:%S} UTC): the "
                    "figures after it extrapolate each store's last poll",
                    seconds=gap_us / 1_000_000,
                )
            )
    stale = report.stale_store_ids
    if len(stale):
        shown = [str(s) for s in stale.slice(0, SHOWN_IDS).to_pylist()]
        more = f" and {len(stale) - len(shown):,} more" if len(stale) > len(shown) else ""
        warnings.append(
            _warning(
                "stale_stores",
                f"{len(stale):,} of {report.table.num_rows:,} stores have no poll within "
                f"{minutes:g} minutes of the report's longest window, so their figures "
                f"extrapolate an older poll: {', '.join(shown)}{more}",
                count=len(stale),
                store_ids=shown,
            )
        )
    return {"warnings": warnings, "stale_stores": len(stale)}


def _duration(us: int) -> str:
    minutes = us // 60_000_000
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
