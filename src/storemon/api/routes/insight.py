"""SPEC Part 2 as JSON: outages, timelines, the profile, the fleet's stores and summary.

Per-store endpoints read that store's inputs only and compute in a worker thread (a
store's week is small). Fleet views are report jobs — the extended fleet report, the
outage list, the profile — run like any report (in the worker processes under
``storemon serve``, shared by identical requests on unchanged data); a request waits a
few seconds for its job and otherwise answers 202 with the job's id, to ask again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from storemon.api.deps import Services, ServicesDep
from storemon.api.errors import ErrorBody, error_responses
from storemon.api.insight_schemas import (
    Computing,
    FleetOutage,
    FleetOutages,
    ProfileResponse,
    ProfileRow,
    StoreOutages,
    StoresPage,
    StoreTimeline,
    Summary,
    outage_items,
    timeline_response,
)
from storemon.api.params import report_parameters
from storemon.api.responses import RETRY_AFTER_SECONDS, failed_response, find_result
from storemon.api.schemas import AS_OF_PATTERN, MAX_AS_OF_LENGTH, FailedReport
from storemon.engine.options import (
    DEFAULT_OBSERVED_WITHIN_MINUTES,
    observed_within_us,
    parse_window,
)
from storemon.errors import InvalidRequest
from storemon.jobs.outputs import JobSpec
from storemon.jobs.views import FLEET_REPORT, ResultTables, store_outages, store_view
from storemon.schema import Interpolation
from storemon.store.base import JobRecord

router = APIRouter(tags=["insight"])

#: How long a fleet view waits for its job before answering 202.
WAIT_SECONDS: Final = 8.0
_POLL_SECONDS: Final = 0.05
_TABLES: Final = ResultTables()

WindowParam = Annotated[
    str,
    Query(max_length=16, description="`<N>m|h|d|w`, at most 366 days.", examples=["168h"]),
]
AsOfParam = Annotated[
    str | None,
    Query(
        max_length=MAX_AS_OF_LENGTH,
        json_schema_extra={"pattern": AS_OF_PATTERN},
        description="The report's 'now' (SPEC timestamp; default: the latest poll).",
        examples=["2023-01-25 18:00:00 UTC"],
    ),
]
InterpolationParam = Annotated[
    Interpolation | None, Query(description="`nearest` or `previous` (default: the server's).")
]
StoreIdPath = Annotated[
    str,
    Path(
        max_length=1024,
        description="The store id, URL-encoded (`/`, `%`, spaces and unicode all work).",
    ),
]
_STORE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(400, 422, 503),
    404: {
        "model": ErrorBody,
        "description": "No store with that id has a poll at or before as_of.",
    },
}


def _fleet_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A fleet view's answers: ``statuses`` of the error shape, and those of its job."""
    return {
        **error_responses(*statuses, 429, 503),
        202: {"model": Computing, "description": "Being computed: ask again (Retry-After)."},
        500: {"model": FailedReport, "description": "The job computing it failed."},
    }


def _parameters(
    app: Services, as_of: str | None, interpolation: Interpolation | None
) -> tuple[datetime | None, Interpolation]:
    wanted = report_parameters(app.settings, None, as_of=as_of, interpolation=interpolation)
    return wanted.as_of, wanted.interpolation


# -- one store ---------------------------------------------------------------------------
@router.get(
    "/stores/{store_id:path}/outages",
    response_model=StoreOutages,
    responses=_STORE_RESPONSES,
    summary="One store's outages",
)
async def get_store_outages(
    app: ServicesDep,
    store_id: StoreIdPath,
    window: WindowParam = "168h",
    as_of: AsOfParam = None,
    interpolation: InterpolationParam = None,
) -> Response:
    """Every outage of the store overlapping the window, clipped to it (SPEC Part 2)."""
    chosen = parse_window(window)
    at, mode = _parameters(app, as_of, interpolation)

    def build() -> BaseModel:
        found = store_outages(
            app.store,
            store_id,
            as_of=at,
            interpolation=mode,
            window=chosen,
            reads=app.store_reads,
        )
        table = found.table
        assert found.as_of is not None
        return StoreOutages(
            store_id=store_id,
            as_of=found.as_of,
            window=chosen.text,
            outages=outage_items(
                np.asarray(table.column("start_hus").to_numpy(), np.int64),
                np.asarray(table.column("end_hus").to_numpy(), np.int64),
                np.asarray(table.column("ongoing").to_numpy(zero_copy_only=False), bool),
            ),
        )

    return await _json(build)


@router.get(
    "/stores/{store_id:path}/timeline",
    response_model=StoreTimeline,
    responses=_STORE_RESPONSES,
    summary="One store's timeline",
)
async def get_store_timeline(
    app: ServicesDep,
    store_id: StoreIdPath,
    window: WindowParam = "168h",
    as_of: AsOfParam = None,
    interpolation: InterpolationParam = None,
    observed_within_minutes: Annotated[
        float,
        Query(
            gt=0,
            le=527040,
            allow_inf_nan=False,
            description="A poll observes this many minutes around it.",
        ),
    ] = DEFAULT_OBSERVED_WITHIN_MINUTES,
) -> Response:
    """Business hours, polls, interpolated state, outages and unobserved stretches of one
    store in one window, its figures for every window, and its hours and zone as stored."""
    chosen = parse_window(window)
    at, mode = _parameters(app, as_of, interpolation)
    within = observed_within_us(observed_within_minutes)

    def build() -> BaseModel:
        view = store_view(
            app.store,
            store_id,
            as_of=at,
            interpolation=mode,
            window=chosen,
            observed_within_us=within,
            reads=app.store_reads,
        )
        return timeline_response(view, chosen)

    return await _json(build)


# -- the fleet ---------------------------------------------------------------------------
async def _json(build: Callable[[], BaseModel]) -> Response:
    """The model ``build`` makes, built and serialized in a worker thread (a page of a
    fleet table is not work for the event loop)."""

    def run() -> bytes:
        return build().model_dump_json().encode()

    return Response(await run_in_threadpool(run), media_type="application/json")


async def _fleet_result(
    app: Services, spec: JobSpec, as_of: datetime | None, interpolation: Interpolation
) -> tuple[JobRecord, pa.Table] | JSONResponse:
    """The complete job of ``spec`` (started or reused) and its result as a table, or the
    answer to give instead: 202 while it runs past :data:`WAIT_SECONDS`, the failure if
    it failed."""
    outcome = await run_in_threadpool(
        app.jobs.trigger, as_of=as_of, interpolation=interpolation, options=spec.to_json()
    )
    app.metrics.report_triggered(reused=outcome.reused)
    job = outcome.job
    deadline = time.monotonic() + WAIT_SECONDS
    while job.status not in ("complete", "failed") and time.monotonic() < deadline:
        await asyncio.sleep(_POLL_SECONDS)
        seen = app.jobs.cached(job.id)
        job = seen if seen is not None else await run_in_threadpool(app.jobs.get, job.id)
    if job.status == "failed":
        return failed_response(job)
    if job.status != "complete":
        return JSONResponse(
            Computing(report_id=job.id).model_dump(),
            status_code=202,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    csv = await find_result(app.jobs, job.id)
    return job, await run_in_threadpool(_TABLES.table, job.id, csv)


@router.get(
    "/profile",
    response_model=ProfileResponse,
    responses=_fleet_responses(400, 422),
    summary="The downtime profile",
)
async def get_profile(
    app: ServicesDep,
    window: WindowParam = "168h",
    as_of: AsOfParam = None,
    interpolation: InterpolationParam = None,
) -> Response:
    """Business time, uptime and downtime of the fleet by local weekday and hour (168 rows,
    Monday 00 first), each store in its own zone (SPEC Part 2)."""
    chosen = parse_window(window)
    at, mode = _parameters(app, as_of, interpolation)
    found = await _fleet_result(app, JobSpec(output="profile", window=chosen), at, mode)
    if isinstance(found, JSONResponse):
        return found
    job, table = found

    def build() -> BaseModel:
        rows = [ProfileRow(**row) for row in table.to_pylist()]
        return ProfileResponse(as_of=job.as_of_used, window=chosen.text, rows=rows)

    return await _json(build)


@router.get(
    "/outages",
    response_model=FleetOutages,
    responses=_fleet_responses(400, 422),
    summary="The fleet's outages",
)
async def get_outages(
    app: ServicesDep,
    window: WindowParam = "168h",
    as_of: AsOfParam = None,
    interpolation: InterpolationParam = None,
    ongoing: Annotated[
        bool | None, Query(description="Only outages that reach as_of (true) or not (false).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """SPEC's outage list of every store, by store id then start; ``ongoing=true`` gives the
    stores down now."""
    chosen = parse_window(window)
    at, mode = _parameters(app, as_of, interpolation)
    found = await _fleet_result(app, JobSpec(output="outages", window=chosen), at, mode)
    if isinstance(found, JSONResponse):
        return found
    job, table = found

    def build() -> BaseModel:
        chosen_rows = table
        if ongoing is not None:
            wanted = pc.equal(table.column("ongoing"), pa.scalar(ongoing))
            chosen_rows = table.filter(wanted)
        page = chosen_rows.slice(offset, limit).to_pylist()
        return FleetOutages(
            as_of=job.as_of_used,
            window=chosen.text,
            total=chosen_rows.num_rows,
            offset=offset,
            limit=limit,
            outages=[FleetOutage(**row) for row in page],
        )

    return await _json(build)


@router.get(
    "/stores",
    response_model=StoresPage,
    responses=_fleet_responses(400, 422),
    summary="Stores and their figures",
)
async def list_stores(
    app: ServicesDep,
    q: Annotated[
        str | None, Query(max_length=1024, description="Store ids starting with this text.")
    ] = None,
    sort: Annotated[
        str,
        Query(
            max_length=64,
            description="A column to sort by, `-column` for descending (ties by store_id).",
            examples=["-downtime_last_week"],
        ),
    ] = "store_id",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Stores with the figures of the latest fleet report (extended columns, windows 1h,
    24h, 168h, as of the latest poll): searchable by id prefix, sortable by any column,
    paged."""
    found = await _fleet_result(
        app, JobSpec(options=FLEET_REPORT), None, app.settings.interpolation
    )
    if isinstance(found, JSONResponse):
        return found
    job, table = found
    column = sort.removeprefix("-")
    if column not in table.column_names:
        raise InvalidRequest(
            f"cannot sort by {column!r}: use one of {', '.join(table.column_names)} "
            "(a leading '-' sorts in descending order)"
        )

    def build() -> BaseModel:
        chosen_rows = table.filter(pc.starts_with(table.column("store_id"), q)) if q else table
        order: Literal["ascending", "descending"] = (
            "descending" if sort.startswith("-") else "ascending"
        )
        keys = [(column, order)] + ([("store_id", "ascending")] if column != "store_id" else [])
        ordered = chosen_rows.take(pc.sort_indices(chosen_rows, sort_keys=keys))
        return StoresPage(
            report_id=job.id,
            as_of=job.as_of_used,
            columns=table.column_names,
            total=chosen_rows.num_rows,
            offset=offset,
            limit=limit,
            stores=ordered.slice(offset, limit).to_pylist(),
        )

    return await _json(build)


@router.get(
    "/summary",
    response_model=Summary,
    responses=_fleet_responses(422),
    summary="The fleet's headline figures",
)
async def get_summary(
    app: ServicesDep,
    window: Annotated[
        Literal["24h", "168h"], Query(description="The last day or the last week.")
    ] = "168h",
) -> Summary | JSONResponse:
    """Stores reported, business-hours uptime and downtime, unobserved share and stores down
    now, from the latest fleet report and outage list; the data's freshness."""
    chosen = parse_window(window)
    mode = app.settings.interpolation
    found = await _fleet_result(app, JobSpec(options=FLEET_REPORT), None, mode)
    if isinstance(found, JSONResponse):
        return found
    job, table = found
    spec = JobSpec(output="outages", window=chosen)
    listed = await _fleet_result(app, spec, job.as_of_used, mode)
    if isinstance(listed, JSONResponse):
        return listed
    _, outages = listed

    def build() -> Summary:  # table work and the store's reads: in a worker thread
        ongoing = outages.filter(pc.equal(outages.column("ongoing"), pa.scalar(True)))
        up, downtime, unobserved = (
            float(pc.sum(table.column(f"{group}_{chosen.name}")).as_py() or 0.0)
            for group in ("uptime", "downtime", "unobserved")
        )
        business = up + downtime
        return Summary(
            report_id=job.id,
            as_of=job.as_of_used,
            window=chosen.text,
            window_name=chosen.name,
            latest_poll_utc=app.store.latest_poll_utc(),
            last_ingest_utc=app.store.latest_ingest_utc(),
            data_version=app.store.data_version(),
            stores=table.num_rows,
            business_hours=round(business, 2),
            uptime_hours=round(up, 2),
            downtime_hours=round(downtime, 2),
            unobserved_hours=round(unobserved, 2),
            uptime_percent=round(100 * up / business, 2) if business else None,
            unobserved_percent=round(100 * unobserved / business, 2) if business else None,
            stores_down_now=len(pc.unique(ongoing.column("store_id"))),
        )

    return await run_in_threadpool(build)


__all__ = ["router"]
