"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from storemon import __version__, web
from storemon.api.auth import OPEN_PATHS, BearerAuthMiddleware
from storemon.api.background import BackgroundThread
from storemon.api.deps import Services
from storemon.api.errors import install_error_handlers
from storemon.api.limits import BodyLimitMiddleware, ConcurrencyLimitMiddleware
from storemon.api.metrics import HttpMetricsMiddleware, Metrics
from storemon.api.openapi import openapi_builder
from storemon.api.routes import ROUTERS, legacy
from storemon.config import Settings
from storemon.jobs import Compute, InThreadCompute, ProcessCompute, ReportJobs
from storemon.store import open_store
from storemon.store.base import Store

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Store uptime and downtime within business hours.

Trigger a report with `POST /trigger_report` (or `POST /reports`), poll it with
`GET /get_report?report_id=…` (or `GET /reports/{id}`) until it is `Complete`,
then download the CSV. Every error has the same JSON shape:
`{"error": "...", "code": "...", "details": [...]}`.
"""


def create_app(
    settings: Settings, store: Store | None = None, *, compute_in_processes: bool = False
) -> FastAPI:
    """The storemon API.

    With ``store`` given, the app uses it and leaves closing it to the caller;
    otherwise it opens ``settings.db`` at start-up and closes it at shutdown. At
    start-up, report jobs a previous process left queued or running are re-run.
    With ``settings.cluster`` (``STOREMON_CLUSTER``), jobs are computed on that Dask
    cluster, partitioned by store id; else with ``compute_in_processes`` (what `storemon
    serve` uses), the engine runs in worker processes so that computing a report never
    slows the answers to polls; otherwise in the job threads of this process.
    """

    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        active = store if store is not None else await run_in_threadpool(open_store, settings.db)
        compute: Compute = InThreadCompute()
        if settings.cluster is not None:
            from storemon.jobs.dask_compute import DaskCompute

            compute = DaskCompute(
                settings.cluster,
                partitions=settings.cluster_partitions,
                timeout_seconds=settings.cluster_timeout_seconds,
                export_dir=settings.cluster_export_dir,
            )
        elif compute_in_processes:
            in_processes = ProcessCompute(settings.report_workers)
            in_processes.warm_up()
            compute = in_processes
        jobs = ReportJobs(
            active,
            workers=settings.report_workers,
            compute=compute,
            lease_seconds=settings.report_lease_seconds,
            queue_max=settings.report_queue_max,
            retention=timedelta(hours=settings.report_retention_hours),
            on_finished=metrics.report_finished,
        )
        ingests = BackgroundThread("storemon-ingest")
        collector = metrics.watch(
            active, in_progress=jobs.in_progress, job_counts=active.job_counts
        )
        try:
            recovered = await run_in_threadpool(jobs.recover)
            if recovered:
                log.warning("re-running %d unfinished report job(s)", len(recovered))
            app.state.services = Services(
                settings=settings, store=active, jobs=jobs, metrics=metrics, ingests=ingests
            )
            yield
        finally:
            await run_in_threadpool(ingests.close)
            await run_in_threadpool(jobs.close)
            metrics.registry.unregister(collector)
            app.state.services = None
            if own_store:
                await run_in_threadpool(active.close)

    app = FastAPI(
        title="storemon",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by the dashboard, from local files (storemon.web)
        redoc_url=None,
    )
    routes = [route for router in ROUTERS for route in router.routes]
    install_error_handlers(app, routes=routes)
    app.openapi = openapi_builder(  # type: ignore[method-assign]
        app,
        token_required=bool(settings.api_token),
        open_paths=OPEN_PATHS,
        refinements=[legacy.refine_openapi],
    )
    for router in ROUTERS:
        app.include_router(router)
    web.install_web(app)
    # The last added middleware runs first: count, bound the concurrency, authenticate,
    # then limit the body.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.api_token:
        app.add_middleware(
            BearerAuthMiddleware,
            token=settings.api_token,
            open_paths=OPEN_PATHS | web.OPEN_PATHS,
            open_prefixes=web.OPEN_PREFIXES,
            challenge=web.login_challenge,
        )
    app.add_middleware(
        ConcurrencyLimitMiddleware,
        max_requests=settings.http_max_concurrent_requests,
        open_paths=("/healthz", "/metrics"),
    )
    app.add_middleware(
        HttpMetricsMiddleware,
        metrics=metrics,
        routes=routes,
    )
    return app
