"""Metrics from prometheus_client: reports, ingests, HTTP requests, the process, the database."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from api_helpers import TestClient, load_example, metric
from prometheus_client import generate_latest

from storemon.api.metrics import POLL_COUNT_REFRESH_SECONDS, Metrics
from storemon.errors import StoreError
from storemon.store import JobRecord


def text_of(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_reports_and_ingests_are_counted() -> None:
    metrics = Metrics()
    start = datetime(2023, 1, 1, tzinfo=UTC)
    job = JobRecord(
        id="j",
        status="complete",
        interpolation="nearest",
        as_of_requested=None,
        data_version=1,
        created_at=start,
        started_at=start,
        finished_at=start.replace(second=2),
    )
    metrics.report_finished(job)
    metrics.report_triggered(reused=True)
    metrics.ingest_finished("status", seconds=0.3, loaded=10, rejected=2)
    metrics.ingest_refused_file("hours")
    text = text_of(metrics)
    assert metric(text, "storemon_report_duration_seconds_sum", status="complete") == 2
    assert metric(text, "storemon_reports_finished_total", status="complete") == 1
    assert metric(text, "storemon_reports_triggered_total", outcome="reused") == 1
    assert metric(text, "storemon_ingest_rows_total", source="status", outcome="loaded") == 10
    assert metric(text, "storemon_ingest_rows_total", source="status", outcome="rejected") == 2
    assert metric(text, "storemon_ingest_duration_seconds_count", source="status") == 1
    assert metric(text, "storemon_ingest_refused_total", source="hours") == 1


class FakeSource:
    """The store's read side as the collector sees it; counts how often rows are counted."""

    def __init__(self) -> None:
        self.version = 1
        self.latest: datetime | None = None
        self.polls = 0
        self.countings = 0
        self.broken = False

    def data_version(self) -> int:
        if self.broken:
            raise StoreError("the database does not answer")
        return self.version

    def latest_poll_utc(self) -> datetime | None:
        return self.latest

    def counts(self) -> dict[str, int]:
        self.countings += 1
        return {"polls": self.polls, "hours": 0, "timezones": 0, "rejects": 0, "stores": 0}


@pytest.fixture
def watched() -> tuple[Metrics, FakeSource, list[float]]:
    metrics, source, now = Metrics(), FakeSource(), [1_700_000_000.0]
    metrics.watch(
        source,
        in_progress=lambda: {"queued": 2, "running": 1},
        job_counts=lambda: {"complete": 5, "failed": 1, "queued": 2, "running": 1},
        clock=lambda: now[0],
    )
    return metrics, source, now


def test_database_gauges(watched: tuple[Metrics, FakeSource, list[float]]) -> None:
    metrics, source, now = watched
    text = text_of(metrics)
    assert metric(text, "storemon_database_up") == 1
    assert metric(text, "storemon_polls") == 0
    assert math.isinf(metric(text, "storemon_latest_poll_age_seconds"))  # no polls: alert fires
    assert "storemon_latest_poll_timestamp_seconds" not in text
    assert metric(text, "storemon_reports_in_progress", status="queued") == 2
    assert metric(text, "storemon_report_jobs", status="complete") == 5
    assert metric(text, "storemon_report_jobs", status="failed") == 1

    now[0] += POLL_COUNT_REFRESH_SECONDS
    source.latest = datetime.fromtimestamp(now[0] - 7300, UTC)
    source.polls, source.version = 1234, 2
    text = text_of(metrics)
    assert metric(text, "storemon_latest_poll_age_seconds") == pytest.approx(7300)
    assert metric(text, "storemon_latest_poll_timestamp_seconds") == pytest.approx(now[0] - 7300)
    assert metric(text, "storemon_polls") == 1234
    assert metric(text, "storemon_data_version") == 2


def test_the_poll_count_is_not_recounted_at_every_scrape(
    watched: tuple[Metrics, FakeSource, list[float]],
) -> None:
    metrics, source, now = watched
    for _ in range(5):
        text_of(metrics)
    assert source.countings == 1  # same data version: counted once
    source.version, source.polls = 2, 10
    assert metric(text_of(metrics), "storemon_polls") == 0  # counted less than a minute ago
    assert source.countings == 1
    now[0] += POLL_COUNT_REFRESH_SECONDS
    assert metric(text_of(metrics), "storemon_polls") == 10
    assert source.countings == 2
    now[0] += 3600
    text_of(metrics)
    assert source.countings == 2  # unchanged data is never recounted


def test_a_database_that_does_not_answer_is_a_gauge_not_an_error(
    watched: tuple[Metrics, FakeSource, list[float]],
) -> None:
    metrics, source, _ = watched
    source.broken = True
    text = text_of(metrics)
    assert metric(text, "storemon_database_up") == 0
    assert metric(text, "storemon_reports_in_progress", status="running") == 1
    assert "storemon_polls" not in text


def test_process_metrics_are_exposed() -> None:
    text = text_of(Metrics())
    assert metric(text, "process_resident_memory_bytes") > 0
    assert metric(text, "process_open_fds") > 0
    assert "python_info" in text


def test_http_requests_by_route_template_and_status(
    client_for: Callable[..., TestClient], store: Any, tables: Any
) -> None:
    client = client_for(api_token="t")
    auth = {"Authorization": "Bearer t"}
    load_example(store, tables)
    client.get("/reports/abc", headers=auth)  # 404 from the route
    client.get("/reports/abc.csv")  # 401 before routing: still its template
    client.get("/no/such/thing", headers=auth)
    client.request("BREW", "/reports", headers=auth)
    text = client.get("/metrics", headers=auth).text
    requests = "storemon_http_requests_total"
    assert metric(text, requests, method="GET", route="/reports/{report_id}", status="404") == 1
    assert metric(text, requests, method="GET", route="/reports/{report_id}.csv", status="401") == 1
    assert metric(text, requests, method="GET", route="(unmatched)", status="404") == 1
    assert metric(text, requests, method="OTHER", route="/reports", status="405") == 1
    seconds = "storemon_http_request_duration_seconds_count"
    assert metric(text, seconds, method="GET", route="/reports/{report_id}") == 1
    assert metric(text, "storemon_http_requests_in_flight") == 1  # this scrape
    assert metric(text, "storemon_latest_poll_timestamp_seconds") == pytest.approx(
        datetime(2023, 1, 23, 16, 30, tzinfo=UTC).timestamp()
    )
    assert metric(text, "storemon_polls") == 3
    assert metric(text, "storemon_database_up") == 1


def test_openmetrics_when_the_scraper_asks(client: TestClient) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    plain = client.get("/metrics")
    assert plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
