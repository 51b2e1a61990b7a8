"""POST /ingest/{source}: the CLI's validation and summary over HTTP, on both backends."""

from __future__ import annotations

import gzip
from typing import Any

from api_helpers import (
    AS_OF,
    DATA,
    EXPECTED,
    TestClient,
    assert_error_shape,
    metric,
    parse_csv,
    wait_for_report,
)


def post(client: TestClient, source: str, body: bytes, **params: str) -> Any:
    return client.post(
        f"/ingest/{source}", content=body, params=params, headers={"Content-Type": "text/csv"}
    )


def test_ingest_the_three_files_then_report(client: TestClient, store: Any) -> None:
    version = store.data_version()
    for source in ("status", "hours", "timezones"):
        response = post(client, source, (DATA / f"{source}.csv").read_bytes())
        assert response.status_code == 200, response.text
        summary = response.json()
        assert list(summary) == [source]
        assert summary[source]["file"] == f"{source}.csv"
        assert summary[source]["rejected"] == 0
        assert summary[source]["loaded"] == summary[source]["rows"]
    assert store.data_version() != version
    assert store.counts()["polls"] == 3
    report_id = client.post("/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
    assert parse_csv(wait_for_report(client, report_id).text) == EXPECTED["nearest"]

    metrics = client.get("/metrics").text
    assert metric(metrics, "storemon_ingest_rows_total", source="status", outcome="loaded") == 3
    assert metric(metrics, "storemon_ingest_duration_seconds_count", source="hours") == 1


def test_bad_rows_are_rejected_with_their_lines_and_the_rest_stored(
    client: TestClient, store: Any
) -> None:
    body = (
        b"store_id,status,timestamp_utc\n"
        b"A,active,2023-01-23 10:00:00 UTC\n"
        b"A,actve,2023-01-23 11:00:00 UTC\n"
        b",active,2023-01-23 12:00:00 UTC\n"
        b"B,inactive,2023-01-23 12:00:00 UTC\n"
    )
    response = post(client, "status", body, name="polls-monday.csv")
    assert response.status_code == 200
    summary = response.json()["status"]
    assert summary["file"] == "polls-monday.csv"
    assert (summary["rows"], summary["loaded"], summary["rejected"]) == (4, 2, 2)
    assert [reject["line"] for reject in summary["rejects"]] == [3, 4]
    assert "actve" in summary["rejects"][0]["reason"]
    assert store.counts()["polls"] == 2
    metrics = client.get("/metrics").text
    assert metric(metrics, "storemon_ingest_rows_total", source="status", outcome="rejected") == 2


def test_gzipped_body_is_accepted(client: TestClient, store: Any) -> None:
    response = post(client, "status", gzip.compress((DATA / "status.csv").read_bytes()))
    assert response.status_code == 200, response.text
    assert response.json()["status"]["loaded"] == 3


def test_missing_column_refuses_the_file_and_leaves_the_database(
    client: TestClient, store: Any
) -> None:
    post(client, "status", (DATA / "status.csv").read_bytes())
    version, counts = store.data_version(), store.counts()
    response = post(client, "status", b"store_id,timestamp_utc\nA,2023-01-23 10:00:00\n")
    body = assert_error_shape(response, 422)
    assert body["code"] == "missing_column"
    assert "'status'" in body["error"]
    assert "status.csv" in body["error"]
    assert body["details"][0]["loc"] == "header.status"
    assert (store.data_version(), store.counts()) == (version, counts)
    metrics = client.get("/metrics").text
    assert metric(metrics, "storemon_ingest_refused_total", source="status") == 1


def test_empty_or_unreadable_bodies_say_what_to_send(client: TestClient) -> None:
    empty = assert_error_shape(post(client, "hours", b""), 400)
    assert "--data-binary" in empty["error"]
    assert_error_shape(post(client, "hours", b"\x00\xff\xfe binary"), 400)
    unknown = assert_error_shape(post(client, "menus", b"a\n"), 422)
    assert "path.source" in unknown["error"]


def test_a_body_without_line_breaks_is_not_echoed_and_gets_a_hint(client: TestClient) -> None:
    """`curl -d @file` strips the newlines: the 'header' is then the whole file."""
    rows = "".join(f"S{n},active,2023-01-23 10:00:00 UTC" for n in range(20_000))
    body = ("store_id,status,timestamp_utc" + rows).encode()
    assert len(body) > 590_000
    response = post(client, "status", body)
    error = assert_error_shape(response, 422)
    assert error["code"] == "missing_column"
    assert "--data-binary" in error["error"]
    assert len(response.content) < 2500
    assert error["details"] == [
        {"loc": "header.timestamp_utc", "message": "lacks the required column 'timestamp_utc'"}
    ]


def test_a_refused_body_with_line_breaks_gets_no_curl_hint(client: TestClient) -> None:
    error = assert_error_shape(post(client, "status", b"store_id,status\nA,active\n"), 422)
    assert "--data-binary" not in error["error"]
