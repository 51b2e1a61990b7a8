"""GET /rejects: the stored rejected rows, paged and filtered, on both backends."""

from __future__ import annotations

from typing import Any

from api_helpers import TestClient, assert_error_shape

BAD_POLLS = (
    b"store_id,status,timestamp_utc\n"
    b"A,actve,2023-01-23 10:00:00 UTC\n"
    b",active,2023-01-23 11:00:00 UTC\n"
    b"B,active,noon\n"
)


def ingest(client: TestClient, source: str, body: bytes, name: str) -> None:
    response = client.post(f"/ingest/{source}", content=body, params={"name": name})
    assert response.status_code in (200, 422), response.text


def test_rejects_are_listed_newest_ingest_first_with_their_reasons(client: TestClient) -> None:
    ingest(client, "status", BAD_POLLS + b"C,active,2023-01-23 10:00:00 UTC\n", "monday.csv")
    ingest(
        client, "hours", b"store_id,day,start_time_local,end_time_local\nA,9,09:00,17:00\n", "h.csv"
    )
    page = client.get("/rejects").json()
    assert page["limit"] == 100
    assert page["offset"] == 0
    assert page["next_offset"] is None
    rows = page["rejects"]
    assert [(row["source"], row["file"], row["line"]) for row in rows] == [
        ("hours", "h.csv", 2),
        ("status", "monday.csv", 2),
        ("status", "monday.csv", 3),
        ("status", "monday.csv", 4),
    ]
    first = rows[1]
    assert "actve" in first["reason"]
    assert first["raw"] == "A,actve,2023-01-23 10:00:00 UTC"
    assert first["raw_length"] == len(first["raw"])
    assert first["ingested_at"].endswith("Z")


def test_rejects_are_paged_and_filtered(client: TestClient) -> None:
    ingest(client, "status", BAD_POLLS, "one.csv")
    ingest(client, "status", BAD_POLLS, "two.csv")
    first = client.get("/rejects", params={"limit": 4}).json()
    assert [row["file"] for row in first["rejects"]] == ["two.csv"] * 3 + ["one.csv"]
    assert first["next_offset"] == 4
    second = client.get("/rejects", params={"limit": 4, "offset": 4}).json()
    assert [(row["file"], row["line"]) for row in second["rejects"]] == [
        ("one.csv", 3),
        ("one.csv", 4),
    ]
    assert second["next_offset"] is None
    only = client.get("/rejects", params={"file": "one.csv"}).json()["rejects"]
    assert {row["file"] for row in only} == {"one.csv"}
    assert len(only) == 3
    assert client.get("/rejects", params={"source": "hours"}).json()["rejects"] == []


def test_a_huge_rejected_row_is_shown_cut_with_its_length(client: TestClient, store: Any) -> None:
    long_id = "x" * 5000
    ingest(
        client,
        "status",
        f"store_id,status,timestamp_utc\n{long_id},active,noon\n".encode(),
        "big.csv",
    )
    row = client.get("/rejects").json()["rejects"][0]
    assert len(row["raw"]) == 1000
    assert row["raw_length"] == len(long_id) + len(",active,noon")


def test_bad_parameters_are_422(client: TestClient) -> None:
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"source": "menus"}):
        assert_error_shape(client.get("/rejects", params=params), 422)
    body = assert_error_shape(client.get("/rejects", params={"file": "f" * 300}), 422)
    assert "at most 255 characters" in body["error"]
