"""The report engine: pure computation, no I/O.

Polls, business hours and timezones (columnar, :mod:`storemon.schema`) go in;
the report table of SPEC.md comes out. The steps are public and reusable:

- :func:`prepare_polls`: polls → sorted, de-duplicated arrays per dense store index;
- :func:`business_intervals`: hours + zones → merged UTC intervals per store;
- :func:`state_segments`: polls → the state of each store at every instant;
- :func:`window_totals` / :func:`poll_totals`: business ∩ state ∩ window, exactly.

See docs/computation.md for how the numbers are computed.
"""

from __future__ import annotations

from storemon.engine.hours import BusinessIntervals, business_intervals
from storemon.engine.measure import WindowTotals, poll_totals, window_totals
from storemon.engine.polls import PollArrays, prepare_polls
from storemon.engine.report import Report, compute_report, report_csv
from storemon.engine.states import StateSegments, state_segments

__all__ = [
    "BusinessIntervals",
    "PollArrays",
    "Report",
    "StateSegments",
    "WindowTotals",
    "business_intervals",
    "compute_report",
    "poll_totals",
    "prepare_polls",
    "report_csv",
    "state_segments",
    "window_totals",
]
