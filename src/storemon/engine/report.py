"""compute_report: the public entry point of the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from storemon.schema import Interpolation


@dataclass(frozen=True)
class Report:
    """A computed report: the table (schema.REPORT, sorted by store_id) and the as_of used."""

    table: pa.Table
    as_of: datetime | None  # None when there were no polls at or before as_of


def compute_report(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    *,
    as_of: datetime | None = None,
    interpolation: Interpolation = "nearest",
) -> Report:
    """The SPEC.md report for every store in ``polls`` with a poll at or before ``as_of``."""
    raise NotImplementedError("engine: being built (issue 2)")


def report_csv(table: pa.Table) -> bytes:
    """The report as CSV bytes: header, SPEC column order, values with exactly two decimals."""
    raise NotImplementedError("engine: being built (issue 2)")
