"""Prometheus metrics of the API, from ``prometheus_client``, one registry per app.

- what this process did: reports triggered and finished (with durations), files
  ingested over HTTP, every HTTP request by method, route template and status
  with a latency histogram (:class:`HttpMetricsMiddleware`);
- the process itself: CPU, memory, open file descriptors, GC, Python version;
- the database as a whole, read at scrape time: polls stored, the newest poll's
  time and age (an alert on "no polls for 2 hours" is
  ``storemon_latest_poll_age_seconds > 7200``), report jobs by status, the data
  version, and whether the database answered at all.

A scrape stays cheap whatever the database holds: every value is one O(1) look-up
except the poll count, which counts rows and is therefore refreshed only when the
data changed and at most once every :data:`POLL_COUNT_REFRESH_SECONDS`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storemon.api.limits import INNER_REQUEST
from storemon.errors import StoremonError
from storemon.store.base import JobRecord, JobStatus

__all__ = ["POLL_COUNT_REFRESH_SECONDS", "HttpMetricsMiddleware", "Metrics"]

log = logging.getLogger(__name__)

_REPORT_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_HTTP_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
#: The poll count is a row count: refreshed at most this often (and only after an ingest).
POLL_COUNT_REFRESH_SECONDS: Final = 60.0
#: Methods counted by name; anything else a client sends is counted as OTHER.
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED: Final = "(unmatched)"


class _StateSource(Protocol):
    """What the database collector reads (the store, and the jobs of this process)."""

    def data_version(self) -> int: ...

    def latest_poll_utc(self) -> datetime | None: ...

    def counts(self) -> dict[str, int]: ...


class Metrics:
    """storemon's metrics; :attr:`registry` is what ``/metrics`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        registry = self.registry
        self.reports_triggered = Counter(
            "storemon_reports_triggered_total",
            "Report triggers, by outcome: a new job, or an identical job reused.",
            ["outcome"],
            registry=registry,
        )
        self.reports_finished = Counter(
            "storemon_reports_finished_total",
            "Report jobs finished by this process, by final status.",
            ["status"],
            registry=registry,
        )
        self.report_seconds = Histogram(
            "storemon_report_duration_seconds",
            "Time from a report job's start to its end (read inputs, compute, store the CSV).",
            ["status"],
            buckets=_REPORT_BUCKETS,
            registry=registry,
        )
        self.ingest_seconds = Histogram(
            "storemon_ingest_duration_seconds",
            "Time to validate and store one file posted to /ingest, by source.",
            ["source"],
            buckets=_REPORT_BUCKETS,
            registry=registry,
        )
        self.ingest_rows = Counter(
            "storemon_ingest_rows_total",
            "Data rows of files posted to /ingest, by source and outcome (loaded or rejected).",
            ["source", "outcome"],
            registry=registry,
        )
        self.ingest_refused = Counter(
            "storemon_ingest_refused_total",
            "Files posted to /ingest that were refused as a whole, by source.",
            ["source"],
            registry=registry,
        )
        self.http_requests = Counter(
            "storemon_http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_seconds = Histogram(
            "storemon_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by method and route.",
            ["method", "route"],
            buckets=_HTTP_BUCKETS,
            registry=registry,
        )
        self.http_in_flight = Gauge(
            "storemon_http_requests_in_flight",
            "HTTP requests being answered now.",
            registry=registry,
        )

    def watch(
        self,
        source: _StateSource,
        *,
        in_progress: Callable[[], Mapping[str, int]],
        job_counts: Callable[[], Mapping[JobStatus, int]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Collector:
        """Expose the database-wide gauges of ``source`` and this process's queue;
        returns the collector (``registry.unregister`` it when the app stops)."""
        collector = _StateCollector(source, in_progress, job_counts, clock)
        self.registry.register(collector)
        return collector

    def report_triggered(self, *, reused: bool) -> None:
        self.reports_triggered.labels("reused" if reused else "new").inc()

    def report_finished(self, job: JobRecord) -> None:
        """Count a finished job and observe its duration (a ReportJobs ``on_finished`` hook)."""
        self.reports_finished.labels(job.status).inc()
        if job.started_at is not None and job.finished_at is not None:
            seconds = (job.finished_at - job.started_at).total_seconds()
            self.report_seconds.labels(job.status).observe(seconds)

    def ingest_finished(self, source: str, *, seconds: float, loaded: int, rejected: int) -> None:
        self.ingest_seconds.labels(source).observe(seconds)
        self.ingest_rows.labels(source, "loaded").inc(loaded)
        self.ingest_rows.labels(source, "rejected").inc(rejected)

    def ingest_refused_file(self, source: str) -> None:
        self.ingest_refused.labels(source).inc()

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "OTHER"
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_seconds.labels(method, route).observe(seconds)


@dataclass(frozen=True)
class _PollCount:
    data_version: int
    polls: int
    counted_at: float


class _StateCollector:
    """Gauges read when scraped: this process's queue and the database as a whole."""

    def __init__(
        self,
        source: _StateSource,
        in_progress: Callable[[], Mapping[str, int]],
        job_counts: Callable[[], Mapping[JobStatus, int]] | None,
        clock: Callable[[], float],
    ) -> None:
        self._source = source
        self._in_progress = in_progress
        self._job_counts = job_counts
        self._clock = clock
        self._lock = threading.Lock()
        self._count: _PollCount | None = None

    def describe(self) -> Iterable[Metric]:
        return ()  # values come from the database: never read them at registration

    def collect(self) -> Iterable[Metric]:
        progress = GaugeMetricFamily(
            "storemon_reports_in_progress",
            "Report jobs of this process now queued or running, by status.",
            labels=["status"],
        )
        for status, count in sorted(self._in_progress().items()):
            progress.add_metric([status], count)
        yield progress
        up = GaugeMetricFamily(
            "storemon_database_up",
            "1 when the database answered this scrape's queries, else 0 (see the server log).",
        )
        try:
            families = list(self._database())
        except StoremonError as error:
            log.warning("metrics: the database did not answer: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _database(self) -> Iterable[Metric]:
        now = self._clock()
        version = self._source.data_version()
        latest = self._source.latest_poll_utc()
        polls = self._poll_count(version, now)
        yield GaugeMetricFamily(
            "storemon_data_version",
            "The database's data version (changes with every ingest that changes data).",
            value=version,
        )
        yield GaugeMetricFamily(
            "storemon_polls",
            "Polls stored in the database (refreshed after an ingest, at most once a minute).",
            value=polls,
        )
        stamp = latest.timestamp() if latest is not None else None
        if stamp is not None:
            yield GaugeMetricFamily(
                "storemon_latest_poll_timestamp_seconds",
                "The newest poll's instant, as Unix time (absent while there are no polls).",
                value=stamp,
            )
        yield GaugeMetricFamily(
            "storemon_latest_poll_age_seconds",
            "Seconds since the newest poll's instant; +Inf while the database has no polls.",
            value=math.inf if stamp is None else now - stamp,
        )
        if self._job_counts is not None:
            jobs = GaugeMetricFamily(
                "storemon_report_jobs",
                "Report jobs in the database, by status (all servers on the database).",
                labels=["status"],
            )
            for status, count in sorted(self._job_counts().items()):
                jobs.add_metric([status], count)
            yield jobs

    def _poll_count(self, version: int, now: float) -> int:
        with self._lock:
            cached = self._count
            fresh = cached is not None and (
                cached.data_version == version
                or now - cached.counted_at < POLL_COUNT_REFRESH_SECONDS
            )
            if cached is not None and fresh:
                return cached.polls
            polls = self._source.counts()["polls"]
            self._count = _PollCount(version, polls, now)
            return polls


class HttpMetricsMiddleware:
    """Count every HTTP request by method, route template and status, and time it.

    Outermost, so that answers given before routing (401, 413) are counted too:
    their template is found among ``routes`` (``(unmatched)`` when none fits).
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.templates: list[tuple[re.Pattern[str], str]] = []
        for route in routes:
            template, regex = getattr(route, "path", None), getattr(route, "path_regex", None)
            if isinstance(template, str) and isinstance(regex, re.Pattern):
                self.templates.append((regex, template))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get(INNER_REQUEST):  # a page's, counted as one
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app fails before answering, the server answers 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.http_in_flight.inc()
        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.metrics.http_in_flight.dec()
            self.metrics.request_finished(
                scope["method"], self._template(scope), status, time.perf_counter() - started
            )

    def _template(self, scope: Scope) -> str:
        path = getattr(scope.get("route"), "path", None)  # set by the router when it matched
        if isinstance(path, str):
            return path
        for regex, template in self.templates:
            if regex.match(scope["path"]):
                return template
        return _UNMATCHED
