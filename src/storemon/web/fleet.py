"""The fleet page's data: what the page shows, gathered from the jobs and the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request

from storemon.api.deps import Services
from storemon.web.api_client import get_json

__all__ = ["FleetView", "fleet_view"]

RECENT_REPORTS = 5


@dataclass(frozen=True)
class FleetView:
    has_polls: bool
    interpolation: str  # the server's default
    recent: list[dict[str, object]]  # GET /reports items


async def fleet_view(request: Request, app: Services, query: Mapping[str, str]) -> FleetView:
    counts = await run_in_threadpool(app.store.counts)
    recent = await get_json(request, "/reports", {"limit": RECENT_REPORTS})
    return FleetView(
        has_polls=counts.get("polls", 0) > 0,
        interpolation=app.settings.interpolation,
        recent=list(recent.body),
    )
