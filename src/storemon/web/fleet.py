"""The fleet page's data, read from the JSON endpoints in process (nothing recomputed).

- headline figures: ``GET /summary?window=``;
- the heatmap: ``GET /profile?window=``;
- the table: ``GET /stores?q=&sort=&limit=&offset=`` — its state is the page's URL
  (``/?window=&q=&sort=&page=``), so every view can be bookmarked and works without
  scripts: sorting, searching and paging are links and a GET form;
- the uptime histogram: every store's ``uptime_<window>`` and ``downtime_<window>`` from
  the fleet report that ``/summary`` names (``GET /reports/{report_id}.csv``), counted
  into bins here — binning is the one thing no endpoint gives; kept per report, which
  never changes;
- down now: ``GET /outages?ongoing=true``.

While the API is still computing the fleet report (202), the page says so and reloads.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlencode

import numpy as np
from fastapi.concurrency import run_in_threadpool
from markupsafe import Markup
from numpy.typing import NDArray
from starlette.requests import Request

from storemon.api.deps import Services
from storemon.web.api_client import ApiError, get_json, get_raw
from storemon.web.charts import HeatCell, heat_cells, heatmap, histogram, uptime_bins

__all__ = ["COLUMNS", "FleetView", "fleet_view"]

RECENT_REPORTS: Final = 5
PAGE_SIZE: Final = 50
DOWN_NOW_LIMIT: Final = 100
WINDOWS: Final = {"24h": ("last_day", "last day"), "168h": ("last_week", "last week")}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str  # "min", "h", "" (count) or "id"
    narrow: bool = True  # shown on a phone too


#: The table's columns (a subset of /stores' columns; any of them sorts the table).
COLUMNS: Final = (
    Column("store_id", "store", "id"),
    Column("uptime_last_hour", "up · hour", "min", narrow=False),
    Column("uptime_last_day", "up · day", "h"),
    Column("downtime_last_day", "down · day", "h", narrow=False),
    Column("uptime_last_week", "up · week", "h"),
    Column("downtime_last_week", "down · week", "h"),
    Column("unobserved_last_week", "unobserved · week", "h", narrow=False),
    Column("outages_last_week", "outages · week", ""),
    Column("longest_outage_last_week", "longest · week", "h", narrow=False),
)
_SORTABLE: Final = frozenset(column.key for column in COLUMNS)


@dataclass(frozen=True)
class TableState:
    """The fleet table's view, as the URL gives it."""

    window: str = "168h"
    q: str = ""
    sort: str = "store_id"
    page: int = 1

    def url(self, **changes: object) -> str:
        values = {
            "window": self.window,
            "q": self.q,
            "sort": self.sort,
            "page": self.page,
            **changes,
        }
        defaults = TableState()
        shown = {k: v for k, v in values.items() if v != getattr(defaults, k)}
        return "/?" + urlencode(shown) if shown else "/"

    def sort_link(self, key: str) -> str:
        """Ascending first; the current ascending column flips to descending."""
        return self.url(sort=f"-{key}" if self.sort == key else key, page=1)

    def aria_sort(self, key: str) -> str | None:
        if self.sort == key:
            return "ascending"
        if self.sort == f"-{key}":
            return "descending"
        return None


def table_state(query: Mapping[str, str]) -> TableState:
    window = query.get("window", "168h")
    sort = query.get("sort", "store_id")
    try:
        page = max(1, int(query.get("page", "1")))
    except ValueError:
        page = 1
    return TableState(
        window=window if window in WINDOWS else "168h",
        q=query.get("q", "").strip(),
        sort=sort if sort.removeprefix("-") in _SORTABLE else "store_id",
        page=page,
    )


@dataclass(frozen=True)
class FleetView:
    has_polls: bool
    interpolation: str  # the server's default, for the report control
    recent: list[dict[str, Any]]  # GET /reports items
    state: TableState = field(default_factory=TableState)
    columns: tuple[Column, ...] = COLUMNS
    windows: Mapping[str, tuple[str, str]] = field(default_factory=lambda: WINDOWS)
    running: bool = False  # the fleet report is being computed: reload soon
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    stores: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    pages: int = 1
    down_now: list[dict[str, Any]] = field(default_factory=list)
    down_total: int = 0
    profile: list[HeatCell] = field(default_factory=list)
    heatmap: Markup = field(default_factory=Markup)
    histogram: Markup = field(default_factory=Markup)
    histogram_stores: int = 0

    @property
    def window_label(self) -> str:
        return self.windows[self.state.window][1]


async def fleet_view(request: Request, app: Services, query: Mapping[str, str]) -> FleetView:
    counts = await run_in_threadpool(app.store.counts)
    recent = list((await get_json(request, "/reports", {"limit": RECENT_REPORTS})).body)
    base = FleetView(
        has_polls=counts.get("polls", 0) > 0,
        interpolation=app.settings.interpolation,
        recent=recent,
        state=table_state(query),
    )
    if not base.has_polls:
        return base
    try:
        return await _with_insight(request, base)
    except ApiError as error:
        return _replace(base, error=error.message)


async def _with_insight(request: Request, base: FleetView) -> FleetView:
    state = base.state
    # Side by side: on the first visit after an ingest each is a fleet job to compute.
    summary, stores, profile, down = await asyncio.gather(
        get_json(request, "/summary", {"window": state.window}),
        get_json(
            request,
            "/stores",
            {
                "q": state.q or None,
                "sort": state.sort,
                "limit": PAGE_SIZE,
                "offset": (state.page - 1) * PAGE_SIZE,
            },
        ),
        get_json(request, "/profile", {"window": state.window}),
        get_json(request, "/outages", {"ongoing": "true", "limit": DOWN_NOW_LIMIT}),
    )
    if any(answer.running for answer in (summary, stores, profile, down)):
        return _replace(base, running=True)
    shares = await _uptime_shares(request, str(summary.body["report_id"]), state.window)
    if shares is None:
        return _replace(base, running=True)
    total = int(stores.body["total"])
    cells, bins = await run_in_threadpool(
        lambda: (heat_cells(profile.body["rows"]), uptime_bins(shares))
    )
    return _replace(
        base,
        summary=dict(summary.body),
        stores=list(stores.body["stores"]),
        total=total,
        pages=max(1, -(-total // PAGE_SIZE)),
        down_now=list(down.body["outages"]),
        down_total=int(down.body["total"]),
        profile=cells,
        heatmap=heatmap(cells),
        histogram=histogram(bins),
        histogram_stores=len(shares),
    )


_SHARES: OrderedDict[tuple[str, str], NDArray[np.float64]] = OrderedDict()
_SHARES_KEPT: Final = 8


async def _uptime_shares(
    request: Request, report_id: str, window: str
) -> NDArray[np.float64] | None:
    """Every store's uptime share (%) of its business time in the window, for the stores
    open in it, from the report's CSV; None while the report is computed."""
    key = (report_id, window)
    found = _SHARES.get(key)
    if found is not None:
        return found
    answer = await get_raw(request, f"/reports/{quote(report_id, safe='')}.csv")
    if answer.status == 202:
        return None
    if answer.status != 200:
        raise ApiError(
            answer.status,
            f"the fleet report's CSV is not available (HTTP {answer.status})",
            "report_unavailable",
        )
    shares = await run_in_threadpool(_shares, answer.body, WINDOWS[window][0])
    _SHARES[key] = shares
    while len(_SHARES) > _SHARES_KEPT:
        _SHARES.popitem(last=False)
    return shares


def _shares(csv: bytes, name: str) -> NDArray[np.float64]:
    import pyarrow.csv as pacsv

    columns = [f"uptime_{name}", f"downtime_{name}"]
    table = pacsv.read_csv(
        io.BytesIO(csv), convert_options=pacsv.ConvertOptions(include_columns=columns)
    )
    up = np.asarray(table.column(columns[0]).to_numpy(), np.float64)
    down = np.asarray(table.column(columns[1]).to_numpy(), np.float64)
    business = up + down
    open_ = business > 0
    return np.asarray(100.0 * up[open_] / business[open_], np.float64)


def _replace(view: FleetView, **changes: Any) -> FleetView:
    from dataclasses import replace

    return replace(view, **changes)
