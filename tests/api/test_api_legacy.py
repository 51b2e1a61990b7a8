"""The original API: /trigger_report and /get_report, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import (
    AS_OF,
    EXPECTED,
    TestClient,
    assert_error_shape,
    hold_the_engine,
    parse_csv,
    wait_for_report,
)

import storemon.jobs.outputs
from storemon.errors import StoreError


def test_trigger_then_poll_until_complete_csv(loaded: TestClient) -> None:
    response = loaded.post("/trigger_report", json={"as_of": AS_OF})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"report_id", "status"}
    assert body["status"] in {"Running", "Complete"}
    report_id = body["report_id"]
    assert len(report_id) >= 22

    done = wait_for_report(loaded, report_id)
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("text/csv")
    assert done.headers["x-report-status"] == "Complete"
    assert done.headers["content-disposition"] == f"attachment; filename=report-{report_id}.csv"
    assert parse_csv(done.text) == EXPECTED["nearest"]


def test_trigger_without_body_uses_latest_poll_and_default_interpolation(
    loaded: TestClient,
) -> None:
    report_id = loaded.post("/trigger_report").json()["report_id"]
    done = wait_for_report(loaded, report_id)
    assert done.status_code == 200
    rows = parse_csv(done.text)
    assert sorted(rows) == ["S", "T"]
    info = loaded.get(f"/reports/{report_id}").json()
    assert info["as_of_used"].startswith("2023-01-23T16:30:00")  # T's poll, the latest
    assert info["interpolation"] == "nearest"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_previous_interpolation_by_query_or_body(loaded: TestClient, method: str) -> None:
    if method == "GET":
        response = loaded.get(
            "/trigger_report", params={"as_of": AS_OF, "interpolation": "previous"}
        )
    else:
        response = loaded.post(
            "/trigger_report", json={"as_of": AS_OF, "interpolation": "previous"}
        )
    assert response.status_code == 200
    done = wait_for_report(loaded, response.json()["report_id"])
    assert parse_csv(done.text) == EXPECTED["previous"]


def test_get_report_accepts_the_id_as_a_json_body(loaded: TestClient) -> None:
    report_id = loaded.post("/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
    wait_for_report(loaded, report_id)
    # the original curl example: -H 'Content-Type: application/json' -d '{"report_id": ...}'
    by_body = loaded.post(
        "/get_report",
        content=f'{{"report_id": "{report_id}"}}',
        headers={"Content-Type": "application/json"},
    )
    assert by_body.status_code == 200
    assert parse_csv(by_body.text) == EXPECTED["nearest"]
    # plain `curl -d` labels the JSON as a form: still accepted
    as_form = loaded.post(
        "/get_report",
        content=f'{{"report_id": "{report_id}"}}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert as_form.status_code == 200
    assert as_form.content == by_body.content


def test_format_json_wraps_the_csv(loaded: TestClient) -> None:
    report_id = loaded.post("/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
    csv = wait_for_report(loaded, report_id).text
    response = loaded.get("/get_report", params={"report_id": report_id, "format": "json"})
    assert response.status_code == 200
    assert response.json() == {"status": "Complete", "report_id": report_id, "data": csv}
    by_body = loaded.post("/get_report", json={"report_id": report_id, "format": "json"})
    assert by_body.json()["data"] == csv


def test_running_report_answers_202(loaded: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = hold_the_engine(monkeypatch)
    report_id = loaded.post("/trigger_report").json()["report_id"]
    try:
        response = loaded.get("/get_report", params={"report_id": report_id})
        assert response.status_code == 202
        assert response.json() == {"status": "Running", "report_id": report_id}
        assert response.headers["retry-after"] == "1"
        # an identical trigger meanwhile returns the same job, still running
        again = loaded.post("/trigger_report").json()
        assert again == {"report_id": report_id, "status": "Running"}
    finally:
        gate.set()
    assert wait_for_report(loaded, report_id).status_code == 200


def test_identical_triggers_share_a_job_until_the_data_changes(
    loaded: TestClient, tables: Any, store: Any
) -> None:
    first = loaded.post("/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
    wait_for_report(loaded, first)
    second = loaded.post("/trigger_report", json={"as_of": "2023-01-23T12:00:00-05:00"})
    assert second.json() == {"report_id": first, "status": "Complete"}  # same instant
    other = loaded.post("/trigger_report", json={"as_of": AS_OF, "interpolation": "previous"})
    assert other.json()["report_id"] != first

    from storemon.store import IngestBatch

    store.apply_ingest(IngestBatch(polls=tables.polls([("U", "2023-01-23 16:00", False)])))
    third = loaded.post("/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
    assert third != first
    assert "U" in parse_csv(wait_for_report(loaded, third).text)


def test_failed_report_answers_500_with_the_reason(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("disk full while reading polls")

    monkeypatch.setattr(storemon.jobs.outputs, "compute_report", broken)
    report_id = loaded.post("/trigger_report").json()["report_id"]
    response = wait_for_report(loaded, report_id)
    body = assert_error_shape(response, 500)
    assert body["status"] == "Failed"
    assert body["report_id"] == report_id
    assert body["code"] == "report_failed"
    assert "disk full" in body["error"]
    assert response.headers["x-report-status"] == "Failed"


def test_unknown_id_is_404(client: TestClient) -> None:
    body = assert_error_shape(client.get("/get_report", params={"report_id": "nope"}), 404)
    assert body["code"] == "report_not_found"
    assert "nope" in body["error"]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "needle"),
    [
        ({"params": {}}, 400, "report_id is missing"),
        ({"params": {"report_id": "  "}}, 400, "report_id is missing"),
        ({"params": {"report_id": "x" * 200}}, 422, "at most 128"),
        ({"params": {"report_id": "a", "format": "xml"}}, 422, "query.format"),
        ({"json": {"report_id": 5}}, 422, "body.report_id"),
        ({"json": {"reportid": "a"}}, 422, "body.reportid: unknown field"),
        ({"content": b"{not json"}, 400, "not valid JSON"),
    ],
)
def test_malformed_get_report_says_what_to_fix(
    client: TestClient, request_kwargs: dict[str, Any], status: int, needle: str
) -> None:
    response = client.request("POST", "/get_report", **request_kwargs)
    assert needle in assert_error_shape(response, status)["error"]


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        ({"as_of": "yesterday"}, 400, "as_of"),
        ({"as_of": "2023-02-30 10:00:00"}, 400, "as_of"),
        ({"interpolation": "linear"}, 422, "body.interpolation"),
        ({"as_of": 12}, 422, "body.as_of"),
        ({"asof": AS_OF}, 422, "unknown field"),
        ([1, 2], 422, "body"),
    ],
)
def test_malformed_trigger_says_what_to_fix(
    client: TestClient, payload: Any, status: int, needle: str
) -> None:
    body = assert_error_shape(client.post("/trigger_report", json=payload), status)
    assert needle in body["error"]


def test_conflicting_query_and_body_values_are_refused(client: TestClient) -> None:
    response = client.post(
        "/trigger_report", params={"interpolation": "nearest"}, json={"interpolation": "previous"}
    )
    assert "given twice" in assert_error_shape(response, 400)["error"]


def test_an_unencoded_plus_in_a_query_as_of_gets_a_hint(client: TestClient) -> None:
    """`?as_of=...T17:00:00+05:30` unencoded: the + arrives as a space."""
    response = client.post("/trigger_report?as_of=2023-01-23T17:00:00+05:30")
    body = assert_error_shape(response, 400)
    assert "%2B" in body["error"]
    encoded = client.post("/trigger_report?as_of=2023-01-23T17:00:00%2B05:30")
    assert encoded.status_code == 200
    bad_date = assert_error_shape(client.post("/trigger_report?as_of=2023-13-01 17:00"), 400)
    assert "%2B" not in bad_date["error"]
