"""The bounded report queue answers 429 with Retry-After; an expired result, 410."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import (
    AS_OF,
    TestClient,
    assert_error_shape,
    hold_the_engine,
    load_example,
    wait_for_report,
)

from report_waiting import wait_until
from storemon.store import Store


def test_a_trigger_beyond_the_queue_bound_is_429_with_retry_after(
    store: Store,
    tables: Any,
    client_for: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_example(store, tables)
    gate = hold_the_engine(monkeypatch)
    client = client_for(report_workers=1, report_queue_max=1)
    try:
        first = client.post("/reports", json={"as_of": AS_OF})
        running = wait_until(
            lambda: client.get(f"/reports/{first.json()['report_id']}").json()["status"],
            lambda status: status == "running",
            timeout=10,
        )
        assert running == "running"  # the worker has it: the queue is empty again
        second = client.post("/reports", json={"as_of": "2023-01-23 16:00:00 UTC"})
        assert (first.status_code, second.status_code) == (202, 202)
        for path in ("/reports", "/trigger_report"):
            refused = client.post(path, json={"as_of": "2023-01-23 15:00:00 UTC"})
            body = assert_error_shape(refused, 429)
            assert body["code"] == "queue_full"
            assert "STOREMON_REPORT_QUEUE_MAX=1" in body["error"]
            assert 1 <= int(refused.headers["retry-after"]) <= 60
        again = client.post("/reports", json={"as_of": AS_OF})  # the same report: no new job
        assert again.status_code == 202
        assert again.json()["report_id"] == first.json()["report_id"]
    finally:
        gate.set()
    assert wait_for_report(client, second.json()["report_id"]).status_code == 200


def test_a_result_past_its_retention_is_410_not_404(
    store: Store, tables: Any, client_for: Callable[..., TestClient]
) -> None:
    load_example(store, tables)
    first = client_for()
    report_id = first.post("/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
    assert wait_for_report(first, report_id).status_code == 200
    # As if it had finished two days ago; a server that has not seen it yet is asked.
    interval = "INTERVAL 2 DAY" if store.url.startswith("duckdb") else "interval '2 days'"
    store.execute_sql(f"UPDATE jobs SET finished_at = finished_at - {interval}")
    later = client_for(report_retention_hours=24)
    for path, params in (
        ("/get_report", {"report_id": report_id}),
        (f"/reports/{report_id}.csv", {}),
    ):
        response = later.get(path, params=params)
        body = assert_error_shape(response, 410)
        assert body["code"] == "report_expired"
        assert "kept for 24 h" in body["error"]
        assert "trigger the report again" in body["error"]
    info = later.get(f"/reports/{report_id}")
    assert info.status_code == 200
    assert info.json()["status"] == "complete"
    fresh = later.post("/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
    assert fresh != report_id  # computed again, not the expired job
    assert wait_for_report(later, fresh).status_code == 200
