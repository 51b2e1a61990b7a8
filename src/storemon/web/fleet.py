"""The fleet page's data: what the page shows, gathered from the jobs and the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from storemon.api.deps import Services
from storemon.api.schemas import ReportInfo, report_info

__all__ = ["FleetView", "fleet_view"]

RECENT_REPORTS = 5


@dataclass(frozen=True)
class FleetView:
    has_polls: bool
    interpolation: str  # the server's default
    recent: list[ReportInfo]


async def fleet_view(app: Services, query: Mapping[str, str]) -> FleetView:
    counts = await run_in_threadpool(app.store.counts)
    jobs = await run_in_threadpool(app.jobs.list, limit=RECENT_REPORTS)
    return FleetView(
        has_polls=counts.get("polls", 0) > 0,
        interpolation=app.settings.interpolation,
        recent=[report_info(job) for job in jobs],
    )
