"""Response models of the Part 2 ("insight") endpoints, and their builders from the engine.

Instants are UTC datetimes (JSON: ISO 8601 with ``Z``); an engine span bounded by a
``nearest`` midpoint can fall on half a microsecond and is rounded to the microsecond,
a half up. Durations are rounded like the CSV (two decimals).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from storemon.engine.options import MINUTE_US, Window
from storemon.engine.outages import minutes_hundredths
from storemon.engine.timeline import Spans
from storemon.instants import from_epoch_us
from storemon.jobs.views import StoreView

__all__ = [
    "Computing",
    "FleetOutage",
    "FleetOutages",
    "HoursRow",
    "OutageItem",
    "PollItem",
    "ProfileResponse",
    "ProfileRow",
    "Span",
    "StateSpan",
    "StoreOutages",
    "StoreTimeline",
    "StoresPage",
    "Summary",
    "WindowInfo",
    "outage_items",
    "timeline_response",
]

Status = Literal["active", "inactive"]


class Span(BaseModel):
    start_utc: datetime
    end_utc: datetime


class StateSpan(Span):
    status: Status


class OutageItem(Span):
    duration_minutes: float = Field(description="The exact clipped length, rounded like uptime.")
    ongoing: bool = Field(description="The outage reaches as_of: the store is down now.")


class FleetOutage(OutageItem):
    store_id: str


class PollItem(BaseModel):
    timestamp_utc: datetime
    status: Status


class WindowInfo(BaseModel):
    text: str = Field(examples=["168h"])
    name: str = Field(examples=["last_week"])
    start_utc: datetime
    end_utc: datetime


class HoursRow(BaseModel):
    day_of_week: int = Field(description="0 = Monday ... 6 = Sunday.")
    start_time_local: str = Field(examples=["09:00:00"])
    end_time_local: str = Field(examples=["17:00:00"])


class StoreOutages(BaseModel):
    store_id: str
    as_of: datetime
    window: str = Field(examples=["168h"])
    outages: list[OutageItem]


class StoreTimeline(BaseModel):
    """One store's window: everything a chart of it needs, in UTC instants."""

    store_id: str
    as_of: datetime
    window: WindowInfo
    timezone: str = Field(description="The zone its local times are in.")
    timezone_source: Literal["stored", "default"]
    hours: list[HoursRow] = Field(description="As stored; empty: open 24x7.")
    business: list[Span]
    polls: list[PollItem]
    states: list[StateSpan] = Field(description="The interpolated state over the window.")
    outages: list[OutageItem]
    unobserved: list[Span] = Field(description="Time further than observed_within from polls.")
    figures: dict[str, float | int] = Field(
        description="The store's extended report row for windows 1h, 24h, 168h."
    )


class ProfileRow(BaseModel):
    day_of_week: int
    hour: int
    stores_open: int
    business_hours: float
    uptime_hours: float
    downtime_hours: float


class ProfileResponse(BaseModel):
    as_of: datetime | None
    window: str
    rows: list[ProfileRow] = Field(description="168 rows, Monday 00 first.")


class FleetOutages(BaseModel):
    as_of: datetime | None
    window: str
    total: int
    offset: int
    limit: int
    outages: list[FleetOutage]


class StoresPage(BaseModel):
    report_id: str
    as_of: datetime | None
    columns: list[str]
    total: int = Field(description="Stores matching q.")
    offset: int
    limit: int
    stores: list[dict[str, Any]]


class Summary(BaseModel):
    report_id: str
    as_of: datetime | None
    window: str
    window_name: str
    latest_poll_utc: datetime | None
    last_ingest_utc: datetime | None
    data_version: int
    stores: int
    business_hours: float
    uptime_hours: float
    downtime_hours: float
    unobserved_hours: float
    uptime_percent: float | None = Field(description="null when there is no business time.")
    unobserved_percent: float | None
    stores_down_now: int = Field(description="Stores in an outage that reaches as_of.")


class Computing(BaseModel):
    """202: the fleet figures these views read are being computed; ask again."""

    status: Literal["Running"] = "Running"
    report_id: str


def _instants(hus: NDArray[np.int64]) -> list[datetime]:
    """Half-microseconds to instants, rounded to the microsecond (a half up)."""
    return [from_epoch_us(int(us)) for us in (hus + 1) // 2]


def _spans(spans: Spans) -> list[Span]:
    starts, ends = _instants(spans.start_hus), _instants(spans.end_hus)
    return [Span(start_utc=a, end_utc=b) for a, b in zip(starts, ends, strict=True)]


def outage_items(
    start_hus: NDArray[np.int64], end_hus: NDArray[np.int64], ongoing: NDArray[np.bool_]
) -> list[OutageItem]:
    """Outages as JSON items: instants rounded to the second as SPEC's outage list has
    them (the same as ``GET /outages``, read from its CSV), exact durations rounded."""
    minutes = minutes_hundredths(start_hus, end_hus)
    return [
        OutageItem(start_utc=a, end_utc=b, duration_minutes=int(m) / 100, ongoing=bool(o))
        for a, b, m, o in zip(
            _whole_seconds(start_hus), _whole_seconds(end_hus), minutes, ongoing, strict=True
        )
    ]


def _whole_seconds(hus: NDArray[np.int64]) -> list[datetime]:
    """Half-microseconds to instants rounded to the nearest second (a half up)."""
    return [from_epoch_us(int(s) * 1_000_000) for s in (hus + 1_000_000) // 2_000_000]


def _time_of_day(us: int) -> str:
    if us >= 24 * 60 * MINUTE_US:
        return "24:00:00"
    seconds, micro = divmod(us, 1_000_000)
    return time(seconds // 3600, seconds // 60 % 60, seconds % 60, micro).isoformat()


def timeline_response(view: StoreView, window: Window) -> StoreTimeline:
    timeline = view.timeline
    states = timeline.states
    return StoreTimeline(
        store_id=timeline.store_id,
        as_of=timeline.as_of,
        window=WindowInfo(
            text=window.text,
            name=window.name,
            start_utc=from_epoch_us(timeline.start_us),
            end_utc=from_epoch_us(timeline.end_us),
        ),
        timezone=timeline.zone,
        timezone_source="stored" if view.zone_stored else "default",
        hours=[
            HoursRow(
                day_of_week=row["day_of_week"],
                start_time_local=_time_of_day(row["start_local_us"]),
                end_time_local=_time_of_day(row["end_local_us"]),
            )
            for row in view.hours.sort_by(
                [("day_of_week", "ascending"), ("start_local_us", "ascending")]
            ).to_pylist()
        ],
        business=_spans(timeline.business),
        polls=[
            PollItem(timestamp_utc=from_epoch_us(int(t)), status="active" if a else "inactive")
            for t, a in zip(timeline.poll_us, timeline.poll_active, strict=True)
        ],
        states=[
            StateSpan(
                start_utc=span.start_utc, end_utc=span.end_utc, status="active" if a else "inactive"
            )
            for span, a in zip(_spans(states), states.flag, strict=True)
        ],
        outages=outage_items(
            timeline.outages.start_hus, timeline.outages.end_hus, timeline.outages.flag
        ),
        unobserved=_spans(timeline.unobserved),
        figures=view.figures,  # type: ignore[arg-type]
    )
