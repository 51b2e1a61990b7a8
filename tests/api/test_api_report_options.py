"""Report jobs with SPEC Part 2 options through the API: windows, extended columns, policy,
job sharing by options, and the warnings a reader must not miss (issues 8 and 14)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from api_helpers import TestClient, assert_error_shape

from report_waiting import wait_for_info, wait_for_report
from storemon.engine import compute_report, report_csv
from storemon.engine.options import report_options
from storemon.ingest import parse_instant

AS_OF = "2023-01-23 17:00:00 UTC"


def _create(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/reports", json=body)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


def test_windows_and_extended_columns(loaded: TestClient, store: Any) -> None:
    created = _create(loaded, as_of=AS_OF, windows="1h,30d", extended=True)
    info = wait_for_info(loaded, created["report_id"])
    assert info["status"] == "complete"
    assert info["options"] == {
        "windows": ["1h", "30d"],
        "extended": True,
        "observed_within_minutes": 60.0,
        "unobserved": "extrapolate",
    }
    csv = loaded.get(f"/reports/{created['report_id']}.csv")
    assert csv.status_code == 200
    header = csv.text.splitlines()[0].split(",")
    assert header == [
        "store_id",
        "uptime_last_hour",
        "uptime_last_30d",
        "downtime_last_hour",
        "downtime_last_30d",
        "unobserved_last_hour",
        "unobserved_last_30d",
        "outages_last_hour",
        "outages_last_30d",
        "longest_outage_last_hour",
        "longest_outage_last_30d",
    ]
    inputs = store.report_inputs(None, lookback=timedelta(days=30))
    expected = compute_report(
        inputs.polls,
        inputs.hours,
        inputs.timezones,
        as_of=parse_instant(AS_OF),
        options=report_options(windows="1h,30d", extended=True),
    )
    assert csv.content == report_csv(expected.table)


def test_identical_options_share_one_job_and_other_options_do_not(loaded: TestClient) -> None:
    first = _create(loaded, as_of=AS_OF, windows="24h", extended=True)
    again = _create(loaded, as_of=AS_OF, windows="1d", extended=True)  # the same window
    assert again["report_id"] == first["report_id"]
    other = _create(loaded, as_of=AS_OF, windows="24h", extended=True, unobserved="exclude")
    assert other["report_id"] != first["report_id"]
    plain = _create(loaded, as_of=AS_OF)
    assert plain["report_id"] not in (first["report_id"], other["report_id"])
    assert plain["options"]["windows"] == ["1h", "24h", "168h"]


def test_the_legacy_trigger_takes_the_options_too(loaded: TestClient) -> None:
    response = loaded.post("/trigger_report", json={"as_of": AS_OF, "windows": ["2h"]})
    assert response.status_code == 200
    done = wait_for_report(loaded, response.json()["report_id"])
    assert done.text.splitlines()[0] == "store_id,uptime_last_2h,downtime_last_2h"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"windows": "5x"}, 400, "window '5x' is not understood"),
        ({"windows": "0h"}, 400, "is empty"),
        ({"windows": "400d"}, 400, "longer than the longest allowed, 366 days"),
        ({"windows": "1h,60m"}, 400, "list each window once"),
        ({"observed_within_minutes": 0}, 422, "observed_within_minutes"),
        ({"unobserved": "ignore"}, 422, "unobserved"),
        ({"extended": "maybe"}, 422, "extended"),
    ],
)
def test_bad_options_say_what_to_write(
    client: TestClient, body: dict[str, Any], status: int, says: str
) -> None:
    for path in ("/reports", "/trigger_report"):
        error = assert_error_shape(client.post(path, json=body), status)
        assert says in error["error"]


def test_warnings_say_what_the_numbers_rest_on(loaded: TestClient) -> None:
    late = _create(loaded, as_of="2023-02-20 12:00:00 UTC")
    info = wait_for_info(loaded, late["report_id"])
    codes = [warning["code"] for warning in info["warnings"]]
    assert codes == ["as_of_after_polls", "stale_stores"]
    assert "27 d 19 h after the latest poll" in info["warnings"][0]["message"]
    assert "2 of 2 stores" in info["warnings"][1]["message"]
    csv = loaded.get(f"/reports/{late['report_id']}.csv")
    assert csv.headers["X-Report-Warnings"] == "as_of_after_polls, stale_stores"

    early = _create(loaded, as_of="2020-01-01 00:00:00 UTC")
    info = wait_for_info(loaded, early["report_id"])
    assert info["row_count"] == 0
    assert [warning["code"] for warning in info["warnings"]] == ["no_polls"]
    legacy = loaded.get("/get_report", params={"report_id": early["report_id"]})
    assert legacy.headers["X-Report-Warnings"] == "no_polls"

    fine = _create(loaded, as_of=AS_OF)
    info = wait_for_info(loaded, fine["report_id"])
    assert info["warnings"] == []
    assert "X-Report-Warnings" not in loaded.get(f"/reports/{fine['report_id']}.csv").headers


def test_stores_on_default_settings_are_named(loaded: TestClient) -> None:
    """T has polls; every hours row sent for it is rejected: it is open 24x7, and the
    report's warnings say so (issue 14 item 2)."""
    bad = b"store_id,day,start_time_local,end_time_local\nT,9,09:00,17:00\nS,0,09:00,12:00\n"
    assert loaded.post("/ingest/hours", content=bad).status_code == 200
    created = _create(loaded, as_of=AS_OF)
    info = wait_for_info(loaded, created["report_id"])
    found = {w["code"]: w["message"] for w in info["warnings"]}
    assert "hours_rejected" in found
    assert found["hours_rejected"].startswith("1 store is open 24x7")
    assert ": T (storemon rejects --source hours)" in found["hours_rejected"]
