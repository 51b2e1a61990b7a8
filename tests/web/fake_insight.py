"""The Part 2 JSON of INSIGHT_API.md for one made-up store, served by a stand-in router.

The in-process page tests use it to check how the pages render the contract's shapes
(the browser tests run on the real endpoints).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response

STORE = "north/5 café %"
AS_OF = "2023-01-25T18:00:00Z"

TIMELINE: dict[str, Any] = {
    "store_id": STORE,
    "as_of": AS_OF,
    "window": {
        "text": "168h",
        "name": "last_week",
        "start_utc": "2023-01-18T18:00:00Z",
        "end_utc": AS_OF,
    },
    "timezone": "America/New_York",
    "timezone_source": "stored",
    "hours": [
        {"day_of_week": 2, "start_time_local": "09:00:00", "end_time_local": "17:00:00"},
        {"day_of_week": 0, "start_time_local": "09:00:00", "end_time_local": "17:00:00"},
    ],
    "business": [
        {"start_utc": "2023-01-23T14:00:00Z", "end_utc": "2023-01-23T22:00:00Z"},
        {"start_utc": "2023-01-25T14:00:00Z", "end_utc": "2023-01-25T18:00:00Z"},
    ],
    "polls": [
        {"timestamp_utc": "2023-01-23T15:14:00Z", "status": "active"},
        {"timestamp_utc": "2023-01-23T16:15:00Z", "status": "inactive"},
        {"timestamp_utc": "2023-01-25T17:30:00Z", "status": "inactive"},
    ],
    "states": [
        {
            "start_utc": "2023-01-18T18:00:00Z",
            "end_utc": "2023-01-23T15:44:30Z",
            "status": "active",
        },
        {"start_utc": "2023-01-23T15:44:30Z", "end_utc": AS_OF, "status": "inactive"},
    ],
    "outages": [
        {
            "start_utc": "2023-01-23T15:44:30Z",
            "end_utc": "2023-01-23T22:00:00Z",
            "duration_minutes": 375.5,
            "ongoing": False,
        },
        {
            "start_utc": "2023-01-25T14:00:00Z",
            "end_utc": AS_OF,
            "duration_minutes": 240.0,
            "ongoing": True,
        },
    ],
    "unobserved": [{"start_utc": "2023-01-18T18:00:00Z", "end_utc": "2023-01-23T14:14:00Z"}],
    "figures": {
        "uptime_last_hour": 0.0,
        "uptime_last_day": 0.0,
        "uptime_last_week": 0.49,
        "downtime_last_hour": 60.0,
        "downtime_last_day": 4.0,
        "downtime_last_week": 10.26,
        "unobserved_last_hour": 0.0,
        "unobserved_last_day": 0.0,
        "unobserved_last_week": 0.23,
        "outages_last_hour": 1,
        "outages_last_day": 1,
        "outages_last_week": 2,
        "longest_outage_last_hour": 60.0,
        "longest_outage_last_day": 4.0,
        "longest_outage_last_week": 6.26,
    },
}


def outages_body() -> dict[str, Any]:
    return {
        "store_id": STORE,
        "as_of": AS_OF,
        "window": "168h",
        "outages": TIMELINE["outages"],
    }


def install(app: FastAPI, fake: APIRouter) -> None:
    """Put the stand-in's routes in front of the app's own (which they shadow)."""
    app.router.routes[0:0] = fake.routes


def router() -> APIRouter:
    fake = APIRouter()

    @fake.get("/stores/{store_id:path}/timeline")
    async def timeline(store_id: str) -> JSONResponse:
        if store_id != STORE:
            return _unknown(store_id)
        return JSONResponse(TIMELINE)

    @fake.get("/stores/{store_id:path}/outages")
    async def outages(store_id: str) -> JSONResponse:
        if store_id != STORE:
            return _unknown(store_id)
        return JSONResponse(outages_body())

    return fake


def _unknown(store_id: str) -> JSONResponse:
    return JSONResponse(
        {"error": f"no store {store_id!r}", "code": "store_not_found", "details": []},
        status_code=404,
    )


STORES = [
    {
        "store_id": f"s{i:02d}",
        "uptime_last_hour": 60.0 if i % 4 else 0.0,
        "uptime_last_day": 10.0,
        "uptime_last_week": float(70 - i),
        "downtime_last_hour": 0.0 if i % 4 else 60.0,
        "downtime_last_day": 0.5,
        "downtime_last_week": float(i),
        "unobserved_last_hour": 0.0,
        "unobserved_last_day": 0.0,
        "unobserved_last_week": 0.25,
        "outages_last_hour": 0,
        "outages_last_day": 1,
        "outages_last_week": i % 3,
        "longest_outage_last_hour": 0.0,
        "longest_outage_last_day": 0.5,
        "longest_outage_last_week": 1.0,
    }
    for i in range(70)
]
SUMMARY = {
    "report_id": "r1",
    "as_of": AS_OF,
    "window": "168h",
    "window_name": "last_week",
    "latest_poll_utc": AS_OF,
    "last_ingest_utc": "2023-01-25T18:05:00Z",
    "data_version": 7,
    "stores": 70,
    "business_hours": 4900.0,
    "uptime_hours": 2485.0,
    "downtime_hours": 2415.0,
    "unobserved_hours": 17.5,
    "uptime_percent": 50.71,
    "unobserved_percent": 0.36,
    "stores_down_now": 1,
}


def fleet_router() -> APIRouter:
    """/summary, /stores, /profile and /outages over :data:`STORES`."""
    fake = APIRouter()

    @fake.get("/summary")
    async def summary(window: str = "168h") -> JSONResponse:
        return JSONResponse({**SUMMARY, "window": window})

    @fake.get("/stores")
    async def stores(
        q: str = "", sort: str = "store_id", limit: int = 50, offset: int = 0
    ) -> JSONResponse:
        key = sort.removeprefix("-")
        rows = sorted(
            (row for row in STORES if str(row["store_id"]).startswith(q)),
            key=lambda row: row[key],  # type: ignore[arg-type, return-value]
            reverse=sort.startswith("-"),
        )
        return JSONResponse(
            {
                "report_id": "r1",
                "as_of": AS_OF,
                "columns": list(STORES[0]),
                "total": len(rows),
                "offset": offset,
                "limit": limit,
                "stores": rows[offset : offset + limit],
            }
        )

    @fake.get("/reports/{report_id}.csv")
    async def report_csv(report_id: str) -> Response:
        columns = list(STORES[0])
        lines = [",".join(columns)] + [",".join(str(row[c]) for c in columns) for row in STORES]
        return Response("\n".join(lines) + "\n", media_type="text/csv")

    @fake.get("/profile")
    async def profile() -> JSONResponse:
        rows = [
            {
                "day_of_week": day,
                "hour": hour,
                "stores_open": 70 if 9 <= hour < 17 else 0,
                "business_hours": 70.0 if 9 <= hour < 17 else 0.0,
                "uptime_hours": 60.0 if 9 <= hour < 17 else 0.0,
                "downtime_hours": 10.0 if 9 <= hour < 17 else 0.0,
            }
            for day in range(7)
            for hour in range(24)
        ]
        return JSONResponse({"as_of": AS_OF, "window": "168h", "rows": rows})

    @fake.get("/outages")
    async def outages(ongoing: bool = False, limit: int = 100) -> JSONResponse:
        rows = [
            {
                "store_id": STORE,
                "start_utc": "2023-01-25T14:00:00Z",
                "end_utc": AS_OF,
                "duration_minutes": 240.0,
                "ongoing": True,
            }
        ]
        return JSONResponse(
            {
                "as_of": AS_OF,
                "window": "168h",
                "total": 1,
                "offset": 0,
                "limit": limit,
                "outages": rows,
            }
        )

    return fake
