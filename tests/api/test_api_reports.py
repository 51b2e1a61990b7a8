"""The REST face: /reports, /reports/{id}, /reports/{id}.csv, /healthz, /metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from api_helpers import (
    AS_OF,
    EXPECTED,
    TestClient,
    assert_error_shape,
    load_example,
    metric,
    parse_csv,
    wait_for_info,
    wait_for_report,
)

import storemon.jobs.outputs
from storemon import __version__


def test_post_reports_is_202_with_location(loaded: TestClient) -> None:
    response = loaded.post("/reports", json={"as_of": AS_OF, "interpolation": "previous"})
    assert response.status_code == 202
    info = response.json()
    assert response.headers["location"] == f"/reports/{info['report_id']}"
    assert info["status"] in {"queued", "running", "complete"}
    assert info["interpolation"] == "previous"
    assert info["as_of_requested"] == "2023-01-23T17:00:00Z"
    assert info["links"] == {
        "self": f"/reports/{info['report_id']}",
        "csv": f"/reports/{info['report_id']}.csv",
    }


def test_report_details_when_complete(loaded: TestClient) -> None:
    report_id = loaded.post("/reports", json={"as_of": AS_OF}).json()["report_id"]
    info = wait_for_info(loaded, report_id)
    assert info["status"] == "complete"
    assert info["as_of_used"] == "2023-01-23T17:00:00Z"
    assert info["row_count"] == 2
    assert info["error"] is None
    created = datetime.fromisoformat(info["created_at"])
    started = datetime.fromisoformat(info["started_at"])
    finished = datetime.fromisoformat(info["finished_at"])
    assert created <= started <= finished
    assert info["duration_seconds"] == pytest.approx((finished - started).total_seconds())

    csv = loaded.get(f"/reports/{report_id}.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert parse_csv(csv.text) == EXPECTED["nearest"]
    assert csv.content == wait_for_report(loaded, report_id).content  # same bytes on both faces


def test_list_reports_newest_first(loaded: TestClient) -> None:
    first = loaded.post("/reports", json={"as_of": AS_OF}).json()["report_id"]
    second = loaded.post("/reports", json={"interpolation": "previous"}).json()["report_id"]
    listed = loaded.get("/reports", params={"limit": 10}).json()
    assert [item["report_id"] for item in listed] == [second, first]
    assert [item["report_id"] for item in loaded.get("/reports?limit=1").json()] == [second]


def test_csv_of_a_failed_report_is_500(loaded: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("bad zone data")

    monkeypatch.setattr(storemon.jobs.outputs, "compute_report", broken)
    report_id = loaded.post("/reports").json()["report_id"]
    info = wait_for_info(loaded, report_id)
    assert info["status"] == "failed"
    assert info["error"] == "internal error: ValueError: bad zone data"
    body = assert_error_shape(loaded.get(f"/reports/{report_id}.csv"), 500)
    assert body["status"] == "Failed"


def test_empty_database_gives_an_empty_report(client: TestClient) -> None:
    report_id = client.post("/reports").json()["report_id"]
    info = wait_for_info(client, report_id)
    assert info["status"] == "complete"
    assert info["row_count"] == 0
    assert info["as_of_used"] is None
    assert parse_csv(client.get(f"/reports/{report_id}.csv").text) == {}


def test_healthz_reports_the_data_version(client: TestClient, store: Any, tables: Any) -> None:
    before = client.get("/healthz")
    assert before.status_code == 200
    assert before.json() == {
        "status": "ok",
        "version": __version__,
        "data_version": store.data_version(),
    }
    load_example(store, tables)
    assert client.get("/healthz").json()["data_version"] != before.json()["data_version"]


def test_metrics_count_reports(loaded: TestClient) -> None:
    report_id = loaded.post("/trigger_report").json()["report_id"]
    wait_for_report(loaded, report_id)
    loaded.post("/trigger_report")  # reused
    response = loaded.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert metric(text, "storemon_reports_triggered_total", outcome="new") == 1
    assert metric(text, "storemon_reports_triggered_total", outcome="reused") == 1
    assert metric(text, "storemon_reports_finished_total", status="complete") == 1
    assert metric(text, "storemon_report_duration_seconds_count", status="complete") == 1
    assert (
        metric(text, "storemon_report_duration_seconds_bucket", status="complete", le="+Inf") == 1
    )
    assert metric(text, "storemon_reports_in_progress", status="running") == 0
    assert "# TYPE storemon_report_duration_seconds histogram" in text
