"""In Chromium: the token flow, /docs offline, the ingest page and the report control."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from web_helpers import TOKEN, Server

from storemon.api.auth import SESSION_COOKIE

pytestmark = pytest.mark.e2e

BAD_POLLS = (
    "store_id,status,timestamp_utc\n"
    "web-upload-1,active,2023-01-25 17:10:00 UTC\n"
    "web-upload-1,actve,2023-01-25 17:20:00 UTC\n"
    "web-upload-1,inactive,2023-01-25 25:00:00 UTC\n"
    "web-upload-2,inactive,2023-01-25 17:30:00 UTC\n"
)


def test_a_browser_without_the_cookie_is_asked_for_the_token_once(
    anonymous_page: Any, server: Server
) -> None:
    page = anonymous_page
    page.goto("/ui/ingest")
    assert re.search(r"/ui/login\?next=%2Fui%2Fingest$", page.url)
    assert page.locator("h1").inner_text() == "Sign in"
    assert "Fleet" not in page.locator("body").inner_text()  # no data, no navigation
    page.fill("#token", "not-the-token")
    page.click("#login-form button")
    assert "not the server's token" in page.locator("#login-error").inner_text()
    page.fill("#token", TOKEN)
    page.click("#login-form button")
    page.wait_for_url(f"{server.url}/ui/ingest")
    assert page.locator("h1").inner_text() == "Ingest a CSV file"
    (cookie,) = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it
    page.goto("/")  # asked once: every page now opens
    assert page.locator("h1").inner_text() == "Fleet"
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/ui/login"))
    page.goto("/")
    assert "/ui/login" in page.url


def test_the_api_keeps_the_bearer_header_and_refuses_without(server: Server) -> None:
    with server.api() as api:
        assert api.get("/reports").status_code == 200
    import httpx

    answer = httpx.get(f"{server.url}/reports", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"
    # An API client at / still gets the API's answer, not the dashboard.
    answer = httpx.get(f"{server.url}/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_docs_work_offline(page: Any, console_allowed: list[str]) -> None:
    # ReDoc always shows its maker's logo from the internet (hidden when it fails to load);
    # the page's Content-Security-Policy blocks that request, and Chromium logs it.
    console_allowed.append("cdn.redoc.ly/redoc/logo-mini.svg")
    page.goto("/docs")
    page.wait_for_selector("text=/trigger_report", timeout=20_000)
    assert page.locator(".opblock").count() >= 8
    page.goto("/redoc")
    page.wait_for_selector("h1:has-text('storemon')", timeout=20_000)
    assert page.locator("text=Start a report").count() >= 1


def test_an_upload_with_bad_rows_shows_the_summary_and_the_rejects(
    page: Any, tmp_path: Path
) -> None:
    upload = tmp_path / "upload.csv"
    upload.write_text(BAD_POLLS)
    page.goto("/ui/ingest")
    page.check("input[name=source][value=status]")
    page.set_input_files("#ingest-file", str(upload))
    page.click("#ingest-submit")
    page.wait_for_selector("#ingest-result:not([hidden])")
    summary = {
        field: page.locator(f"#ingest-summary dd[data-field={field}]").inner_text()
        for field in ("file", "rows_read", "loaded", "rejected")
    }
    assert summary == {"file": "upload.csv", "rows_read": "4", "loaded": "2", "rejected": "2"}
    rows = page.locator("#rejects-table tbody tr").all_inner_texts()
    assert len(rows) == 2
    assert rows[0].startswith("3\t")
    assert "actve" in rows[0]
    assert rows[1].startswith("4\t")
    assert "timestamp" in rows[1]


def test_a_refused_upload_shows_the_api_error(
    page: Any, tmp_path: Path, console_allowed: list[str]
) -> None:
    console_allowed.append("status of 422")
    upload = tmp_path / "hours.csv"
    upload.write_text("store_id,day\nx,1\n")
    page.goto("/ui/ingest")
    page.check("input[name=source][value=hours]")
    page.set_input_files("#ingest-file", str(upload))
    page.click("#ingest-submit")
    error = page.locator("#ingest-error")
    error.wait_for(state="visible")
    assert "HTTP 422" in error.inner_text()
    assert "column" in error.inner_text()
    assert page.locator("#ingest-result").is_hidden()


def test_computing_a_report_runs_until_complete_and_links_the_csv(
    page: Any, server: Server
) -> None:
    page.goto("/")
    page.fill("#report-as-of", "2023-01-25T17:00:00")
    page.select_option("#report-interpolation", "previous")
    page.click("#report-submit")
    page.wait_for_selector("#report-complete", timeout=30_000)
    assert "Complete" in page.locator("#report-complete").inner_text()
    href = page.locator("#report-download").get_attribute("href")
    assert href is not None
    assert href.endswith(".csv")
    with page.expect_download() as download:
        page.click("#report-download")
    csv = Path(download.value.path()).read_text(encoding="utf-8")
    assert csv.startswith("store_id,uptime_last_hour,")
    report_id = href.removeprefix("/reports/").removesuffix(".csv")
    with server.api() as api:
        info = api.get(f"/reports/{report_id}").json()
        assert info["interpolation"] == "previous"
        assert info["as_of_used"].startswith("2023-01-25T17:00:00")
        assert api.get(href).text == csv
