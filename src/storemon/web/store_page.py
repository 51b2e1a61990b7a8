"""The store page: one store's window from ``GET /stores/{id}/timeline``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from storemon.web.api_client import ApiError, get_json, store_path
from storemon.web.context import page_app
from storemon.web.formats import hours as fmt_hours
from storemon.web.formats import minutes as fmt_minutes
from storemon.web.render import html_response, render
from storemon.web.urls import store_url

__all__ = ["StoreView", "router", "store_url"]

router = APIRouter(include_in_schema=False)

WINDOWS: Final = (("24h", "last day"), ("168h", "last week"))
_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LABELS: Final = {"last_hour": "last hour", "last_day": "last day", "last_week": "last week"}


@dataclass(frozen=True)
class FigureRow:
    name: str
    label: str
    uptime: str
    downtime: str
    unobserved: str
    outages: str
    longest: str


@dataclass(frozen=True)
class HoursRow:
    day: str
    start: str
    end: str


@dataclass(frozen=True)
class StoreView:
    store_id: str
    window: str
    error: str | None = None
    as_of: str | None = None
    zone: str = "UTC"
    zone_source: str = "stored"
    timeline: dict[str, Any] = field(default_factory=dict)
    outages: list[dict[str, Any]] = field(default_factory=list)
    figures: list[FigureRow] = field(default_factory=list)
    hours: list[HoursRow] = field(default_factory=list)
    windows: tuple[tuple[str, str], ...] = WINDOWS

    @property
    def window_label(self) -> str:
        return dict(WINDOWS).get(self.window, f"last {self.window}")

    def link(self, window: str) -> str:
        return store_url(self.store_id) + "?" + urlencode({"window": window})


def figure_rows(figures: dict[str, Any]) -> list[FigureRow]:
    """One row per window of the store's report row (``uptime_<name>``, ... columns)."""
    rows = []
    for key in figures:
        if not key.startswith("uptime_"):
            continue
        name = key.removeprefix("uptime_")
        in_minutes = name == "last_hour" or name.endswith("m")
        amount = fmt_minutes if in_minutes else fmt_hours

        def value(prefix: str, name: str = name, amount: Any = amount) -> str:
            found = figures.get(f"{prefix}_{name}")
            return "–" if found is None else str(amount(float(found)))

        count = figures.get(f"outages_{name}")
        rows.append(
            FigureRow(
                name=name,
                label=_LABELS.get(name, name.replace("_", " ")),
                uptime=value("uptime"),
                downtime=value("downtime"),
                unobserved=value("unobserved"),
                outages="–" if count is None else f"{int(count):,}",
                longest=value("longest_outage"),
            )
        )
    return rows


def hours_rows(hours: list[dict[str, Any]]) -> list[HoursRow]:
    ordered = sorted(hours, key=lambda h: (h["day_of_week"], h["start_time_local"]))
    return [
        HoursRow(
            day=_DAYS[int(h["day_of_week"])],
            start=str(h["start_time_local"])[:5],
            end=str(h["end_time_local"])[:5],
        )
        for h in ordered
    ]


async def store_view(request: Request, store_id: str, window: str) -> tuple[StoreView, int]:
    query = {"window": window}
    try:
        # The timeline holds the same outages as /stores/{id}/outages (a browser test holds
        # them together): one read of the store instead of two.
        timeline = (await get_json(request, store_path(store_id, "timeline"), query)).body
    except ApiError as error:
        message = error.message
        if error.code == "store_not_found":
            message = (
                f"{error.message}. Check the id, or ingest polls for this store on the ingest page."
            )
        return StoreView(store_id=store_id, window=window, error=message), error.status
    view = StoreView(
        store_id=store_id,
        window=window,
        as_of=timeline["as_of"],
        zone=timeline["timezone"],
        zone_source=timeline.get("timezone_source", "stored"),
        timeline=timeline,
        outages=list(timeline["outages"]),
        figures=figure_rows(dict(timeline.get("figures") or {})),
        hours=hours_rows(list(timeline.get("hours") or [])),
    )
    return view, 200


@router.get("/ui/stores/{store_id:path}")
async def store_page(store_id: str, request: Request) -> Response:
    from storemon.api.deps import services

    app = await services(request)
    window = request.query_params.get("window") or "168h"
    view, status = await store_view(request, store_id, window)
    layout = await page_app(app)
    body = await run_in_threadpool(
        render, "store.html", title=f"Store {store_id}", nav="store", app=layout, view=view
    )
    return await run_in_threadpool(html_response, request, body, status_code=status)
