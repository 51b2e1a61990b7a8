"""The report engine: pure computation, no I/O.

Polls, business hours and timezones (columnar, :mod:`storemon.schema`) go in;
the report table of SPEC.md comes out.
"""

from __future__ import annotations

from storemon.engine.report import Report, compute_report, report_csv

__all__ = ["Report", "compute_report", "report_csv"]
