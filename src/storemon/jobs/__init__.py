"""Report jobs: lifecycle (queued → running → complete | failed), runner, reuse, recovery;
compute strategies behind one protocol (:mod:`storemon.jobs.compute`)."""

from __future__ import annotations

from storemon.errors import ReportWorkerError
from storemon.jobs.compute import (
    Compute,
    ComputedReport,
    InThreadCompute,
    ProcessCompute,
    compute_tables,
)
from storemon.jobs.runner import ReportJobs, TriggerOutcome, new_report_id, utc_now

__all__ = [
    "Compute",
    "ComputedReport",
    "InThreadCompute",
    "ProcessCompute",
    "ReportJobs",
    "ReportWorkerError",
    "TriggerOutcome",
    "compute_tables",
    "new_report_id",
    "utc_now",
]
