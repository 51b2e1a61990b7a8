"""The Part 2 JSON endpoints: one store's outages and timeline, the fleet's stores, outage
list, profile and summary (issue 8; the contract the dashboard reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from api_helpers import TestClient, assert_error_shape

from storemon.ingest import read_source
from storemon.store import Store, StoreRange
from storemon.store.base import IngestBatch

DATA = Path(__file__).parent.parent / "data" / "engine"
ODD = ["a/b", "50%", "s p", "店"]


@pytest.fixture
def fleet(store: Store, tables: Any, client: TestClient) -> TestClient:
    """The hand-worked store G of docs/computation.md, and odd ids open 24x7; the latest
    poll (a/b, inactive) is at 2023-11-06 12:00 UTC, G's as_of in the worked example."""
    polls, hours, zones = (
        read_source(source, DATA / f"part2_{source}.csv").table
        for source in ("status", "hours", "timezones")
    )
    store.apply_ingest(IngestBatch(polls=polls, hours=hours, timezones=zones))
    rows = [(i, "2023-11-06 11:00", True) for i in ODD]
    rows.append(("a/b", "2023-11-06 12:00", False))
    store.apply_ingest(IngestBatch(polls=tables.polls(rows)))
    return client


def test_one_store_outages(fleet: TestClient) -> None:
    body = fleet.get("/stores/G/outages").json()
    assert body == {
        "store_id": "G",
        "as_of": "2023-11-06T12:00:00Z",
        "window": "168h",
        "outages": [
            {
                "start_utc": "2023-11-05T02:00:00Z",
                "end_utc": "2023-11-05T05:45:00Z",
                "duration_minutes": 225.0,
                "ongoing": False,
            },
            {
                "start_utc": "2023-11-06T01:00:00Z",
                "end_utc": "2023-11-06T03:37:30Z",
                "duration_minutes": 157.5,
                "ongoing": False,
            },
        ],
    }
    day = fleet.get("/stores/G/outages", params={"window": "24h"}).json()
    assert [o["start_utc"] for o in day["outages"]] == ["2023-11-06T01:00:00Z"]


def test_one_store_timeline(fleet: TestClient) -> None:
    body = fleet.get("/stores/G/timeline").json()
    assert body["window"] == {
        "text": "168h",
        "name": "last_week",
        "start_utc": "2023-10-30T12:00:00Z",
        "end_utc": "2023-11-06T12:00:00Z",
    }
    assert body["timezone"] == "America/New_York"
    assert body["timezone_source"] == "stored"
    assert body["hours"] == [
        {"day_of_week": 5, "start_time_local": "20:00:00", "end_time_local": "02:00:00"},
        {"day_of_week": 6, "start_time_local": "20:00:00", "end_time_local": "02:00:00"},
    ]
    assert body["business"] == [
        {"start_utc": "2023-11-05T00:00:00Z", "end_utc": "2023-11-05T07:00:00Z"},
        {"start_utc": "2023-11-06T01:00:00Z", "end_utc": "2023-11-06T07:00:00Z"},
    ]
    assert body["unobserved"] == [
        {"start_utc": "2023-10-30T12:00:00Z", "end_utc": "2023-11-04T22:30:00Z"},
        {"start_utc": "2023-11-05T07:30:00Z", "end_utc": "2023-11-06T00:30:00Z"},
        {"start_utc": "2023-11-06T02:30:00Z", "end_utc": "2023-11-06T04:45:00Z"},
        {"start_utc": "2023-11-06T06:45:00Z", "end_utc": "2023-11-06T10:00:00Z"},
    ]
    states = body["states"]
    assert states[0]["start_utc"] == "2023-10-30T12:00:00Z"
    assert states[-1]["end_utc"] == "2023-11-06T12:00:00Z"
    assert [s["status"] for s in states] == [
        "active", "inactive", "active", "inactive", "active",
    ]  # fmt: skip
    assert [p["status"] for p in body["polls"]] == ["active"] * 2 + ["inactive"] * 2 + [
        "active", "inactive", "active", "active",
    ]  # fmt: skip
    assert [o["duration_minutes"] for o in body["outages"]] == [225.0, 157.5]
    figures = body["figures"]
    assert figures["uptime_last_week"] == 6.63
    assert figures["downtime_last_week"] == 6.38
    assert figures["unobserved_last_week"] == 2.5
    assert figures["outages_last_week"] == 2
    assert figures["longest_outage_last_week"] == 3.75


@pytest.mark.parametrize("store_id", ODD)
def test_odd_store_ids_work_url_encoded(fleet: TestClient, store_id: str) -> None:
    path = quote(store_id, safe="")
    timeline = fleet.get(f"/stores/{path}/timeline")
    assert timeline.status_code == 200, timeline.text
    assert timeline.json()["store_id"] == store_id
    assert timeline.json()["timezone_source"] == "default"
    assert timeline.json()["hours"] == []
    outages = fleet.get(f"/stores/{path}/outages")
    assert outages.status_code == 200
    assert [o["ongoing"] for o in outages.json()["outages"]] == (
        [True] if store_id == "a/b" else []
    )


def test_unknown_store_and_bad_parameters(fleet: TestClient) -> None:
    for path in ("/stores/nope/outages", "/stores/nope/timeline", "/stores/g/timeline"):
        body = assert_error_shape(fleet.get(path), 404)
        assert body["code"] == "store_not_found"
    early = fleet.get("/stores/G/outages", params={"as_of": "2020-01-01 00:00"})
    assert assert_error_shape(early, 404)["code"] == "store_not_found"
    bad = assert_error_shape(fleet.get("/stores/G/outages", params={"window": "5x"}), 400)
    assert "window '5x' is not understood" in bad["error"]
    wide = fleet.get("/stores/G/timeline", params={"observed_within_minutes": 0})
    assert_error_shape(wide, 422)
    nan = fleet.get("/stores/G/timeline", params={"observed_within_minutes": "nan"})
    assert "finite" in assert_error_shape(nan, 422)["error"]


def test_per_store_endpoints_compute_one_store_from_one_read_per_data_version(
    fleet: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request reads and computes its one store; the fleet's week is read once per data
    version beside the requests (jobs.views.StoreReads), and the next requests slice it;
    at a given as_of the store alone is read."""
    from storemon.engine import run

    seen: list[StoreRange | None] = []
    original = store.report_inputs
    computed: list[int] = []
    only = run.only_store

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("stores"))
        return original(*args, **kwargs)

    def one(polls: Any, *args: Any) -> Any:
        computed.append(polls.num_rows)
        return only(polls, *args)

    monkeypatch.setattr(store, "report_inputs", spy)
    monkeypatch.setattr("storemon.engine.outages.only_store", one)
    assert fleet.get("/stores/G/outages").status_code == 200
    fleet.app.state.services.store_reads.wait(30)
    assert sorted(seen, key=str) == sorted([StoreRange.one("G"), None], key=str)
    seen.clear()
    assert fleet.get("/stores/G/timeline").status_code == 200
    assert fleet.get("/stores/a%2Fb/outages").status_code == 200
    assert seen == []  # sliced from the snapshot
    g_polls = original(None, stores=StoreRange.one("G")).polls.num_rows
    assert computed == [g_polls, 2]  # the outage lists saw G's polls, then a/b's two
    at = {"as_of": "2023-11-06 12:00:00 UTC"}
    assert fleet.get("/stores/G/outages", params=at).status_code == 200
    assert seen == [StoreRange.one("G")]


def test_profile(fleet: TestClient) -> None:
    body = fleet.get("/profile").json()
    assert body["as_of"] == "2023-11-06T12:00:00Z"
    rows = body["rows"]
    assert len(rows) == 168
    assert rows[0]["day_of_week"] == 0
    assert rows[0]["hour"] == 0
    sunday_one = rows[6 * 24 + 1]
    # G's repeated hour (2 h, 1.25 up), and Chicago's for each of the four stores open 24x7
    assert sunday_one["business_hours"] == 2.0 + 4 * 2
    assert sunday_one["uptime_hours"] == 1.25 + 4 * 2
    assert sunday_one["stores_open"] == 5
    assert sum(r["downtime_hours"] for r in rows) == pytest.approx(6.375 + 0.5, abs=0.02)


def test_fleet_outages_and_down_now(fleet: TestClient) -> None:
    body = fleet.get("/outages").json()
    assert body["total"] == 3
    assert [o["store_id"] for o in body["outages"]] == ["G", "G", "a/b"]
    now = fleet.get("/outages", params={"ongoing": "true"}).json()
    assert [(o["store_id"], o["start_utc"]) for o in now["outages"]] == [
        ("a/b", "2023-11-06T11:30:00Z")
    ]
    paged = fleet.get("/outages", params={"limit": 1, "offset": 1}).json()
    assert [o["end_utc"] for o in paged["outages"]] == ["2023-11-06T03:37:30Z"]


def test_stores_search_sort_and_page(fleet: TestClient) -> None:
    body = fleet.get("/stores").json()
    assert body["total"] == 5
    assert [s["store_id"] for s in body["stores"]] == ["50%", "G", "a/b", "s p", "店"]
    assert body["columns"][0] == "store_id"
    assert "longest_outage_last_week" in body["columns"]
    worst = fleet.get("/stores", params={"sort": "-downtime_last_week", "limit": 2}).json()
    assert [s["store_id"] for s in worst["stores"]] == ["G", "a/b"]
    assert worst["stores"][0]["outages_last_week"] == 2
    found = fleet.get("/stores", params={"q": "a"}).json()
    assert [s["store_id"] for s in found["stores"]] == ["a/b"]
    second = fleet.get("/stores", params={"limit": 2, "offset": 2}).json()
    assert [s["store_id"] for s in second["stores"]] == ["a/b", "s p"]
    bad = assert_error_shape(fleet.get("/stores", params={"sort": "nope"}), 400)
    assert "cannot sort by 'nope'" in bad["error"]


def test_summary(fleet: TestClient) -> None:
    week = fleet.get("/summary").json()
    assert week["stores"] == 5
    assert week["window_name"] == "last_week"
    assert week["stores_down_now"] == 1
    assert week["latest_poll_utc"] == "2023-11-06T12:00:00Z"
    assert week["last_ingest_utc"] is not None
    assert week["downtime_hours"] == pytest.approx(6.38 + 0.5)
    day = fleet.get("/summary", params={"window": "24h"}).json()
    assert day["window"] == "24h"
    assert assert_error_shape(fleet.get("/summary", params={"window": "1h"}), 422)


def test_fleet_views_of_an_empty_database(client: TestClient) -> None:
    assert client.get("/stores").json()["total"] == 0
    assert client.get("/outages").json()["total"] == 0
    assert len(client.get("/profile").json()["rows"]) == 168


def test_one_store_and_fleet_outages_round_to_the_same_second(
    store: Store, tables: Any, client: TestClient
) -> None:
    """SPEC's outage list rounds instants to the second: the per-store endpoint, a
    timeline and GET /outages must name the same instants for the same outage."""
    rows = [
        ("s", "2023-01-02 10:00:00.4", True),  # the nearest midpoint: 10:00:00.85
        ("s", "2023-01-02 10:00:01.3", False),
        ("s", "2023-01-02 11:00:00.2", False),
    ]
    store.apply_ingest(IngestBatch(polls=tables.polls(rows)))
    one = client.get("/stores/s/outages").json()["outages"]
    timeline = client.get("/stores/s/timeline").json()["outages"]
    fleet = [
        {k: v for k, v in o.items() if k != "store_id"}
        for o in client.get("/outages").json()["outages"]
    ]
    assert [(o["start_utc"], o["end_utc"]) for o in one] == [
        ("2023-01-02T10:00:01Z", "2023-01-02T11:00:00Z")
    ]
    assert [(o["start_utc"], o["end_utc"]) for o in timeline] == [
        (o["start_utc"], o["end_utc"]) for o in one
    ]
    assert fleet == one
