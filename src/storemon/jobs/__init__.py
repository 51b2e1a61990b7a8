"""Report jobs: lifecycle (queued → running → complete | failed), runner, reuse, recovery."""

from __future__ import annotations

from storemon.jobs.runner import (
    ComputedReport,
    ProcessCompute,
    ReportJobs,
    ReportWorkerError,
    TriggerOutcome,
    compute_with_engine,
    new_report_id,
    utc_now,
)

__all__ = [
    "ComputedReport",
    "ProcessCompute",
    "ReportJobs",
    "ReportWorkerError",
    "TriggerOutcome",
    "compute_with_engine",
    "new_report_id",
    "utc_now",
]
