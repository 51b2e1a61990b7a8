"""In Chromium, on the real Part 2 endpoints: the fleet page and the store page show exactly
what the API says; search, sort and paging live in the URL and work without scripts."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from web_helpers import DOWN_NOW, ODD_IDS, Server

from storemon.web import formats

pytestmark = pytest.mark.e2e

FLEET_TIMEOUT_MS = 60_000  # the first visit may wait for the fleet report


def _fleet(page: Any, path: str = "/") -> None:
    page.goto(path)
    page.wait_for_selector("#headline", timeout=FLEET_TIMEOUT_MS)


def _table_ids(page: Any) -> list[str]:
    return [
        text.strip() for text in page.locator("#stores-table tbody td.store-id").all_inner_texts()
    ]


def _api_ids(server: Server, **query: object) -> list[str]:
    with server.api() as api:
        body = api.get("/stores", params={"limit": 50, **query}).json()
    return [row["store_id"] for row in body["stores"]]


def test_the_fleet_page_shows_the_apis_numbers(page: Any, server: Server) -> None:
    _fleet(page)
    with server.api() as api:
        summary = api.get("/summary", params={"window": "168h"}).json()
        down = api.get("/outages", params={"ongoing": "true", "limit": 100}).json()
        stores = api.get("/stores", params={"limit": 50}).json()
    shown = {
        field: page.locator(f"#headline dd[data-field={field}]").evaluate(
            "e => e.firstChild.textContent"
        )
        for field in (
            "stores",
            "uptime_percent",
            "downtime_hours",
            "stores_down_now",
            "unobserved_percent",
        )
    }
    assert shown == {
        "stores": formats.count(summary["stores"]),
        "uptime_percent": formats.percent(summary["uptime_percent"]),
        "downtime_hours": formats.hours(summary["downtime_hours"]),
        "stores_down_now": formats.count(summary["stores_down_now"]),
        "unobserved_percent": formats.percent(summary["unobserved_percent"]),
    }
    assert formats.instant_utc(summary["as_of"]) in page.locator("#freshness").inner_text()
    assert _table_ids(page) == [row["store_id"] for row in stores["stores"]]
    first = page.locator("#stores-table tbody tr").first
    value = first.locator("td[data-key=downtime_last_week]").get_attribute("data-value")
    assert float(value or "nan") == stores["stores"][0]["downtime_last_week"]
    assert page.locator("#heatmap rect.cell").count() == 168
    bars = page.locator("#histogram rect.bar")
    assert bars.count() == 20
    counted = sum(int(bars.nth(i).get_attribute("data-stores") or 0) for i in range(20))
    assert 0 < counted <= summary["stores"]
    down_ids = page.locator("#down-table td.store-id").all_inner_texts()
    assert down_ids == [o["store_id"] for o in down["outages"]]
    assert set(DOWN_NOW) <= set(down_ids)


def test_hovering_the_heatmap_shows_the_hours_figures(page: Any) -> None:
    _fleet(page)
    cell = page.locator("#heatmap rect.cell[data-day='2'][data-hour='12']")
    cell.hover()
    tip = page.locator(".tooltip")
    assert tip.is_visible()
    assert tip.inner_text().startswith("Wed 12:00–13:00 local")
    assert "stores open" in tip.inner_text()


def test_search_sort_and_paging_live_in_the_url(page: Any, server: Server) -> None:
    _fleet(page)
    prefix = _api_ids(server)[0][:2]
    page.fill("#q", prefix)
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(rf"[?&]q={prefix}"))
    assert _table_ids(page) == _api_ids(server, q=prefix)
    assert all(store_id.startswith(prefix) for store_id in _table_ids(page))
    page.click("text=clear")
    page.click("#stores-table th a[data-sort=downtime_last_week]")
    page.wait_for_url(re.compile(r"sort=downtime_last_week"))
    page.click("#stores-table th a[data-sort=downtime_last_week]")
    page.wait_for_url(re.compile(r"sort=-downtime_last_week"))
    assert _table_ids(page) == _api_ids(server, sort="-downtime_last_week")
    header = page.locator("#stores-table th[aria-sort]")
    assert header.get_attribute("aria-sort") == "descending"
    page.click("#page-next")
    page.wait_for_url(re.compile(r"page=2"))
    assert _table_ids(page) == _api_ids(server, sort="-downtime_last_week", offset=50)
    bookmarked = page.url
    page.goto("/")
    page.goto(bookmarked)  # the same view again from its URL
    assert _table_ids(page) == _api_ids(server, sort="-downtime_last_week", offset=50)


def test_the_fleet_table_works_with_scripts_disabled(browser: Any, server: Server) -> None:
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    context.add_cookies([server.session_cookie()])
    try:
        page = context.new_page()
        page.goto("/?sort=-uptime_last_week")
        page.wait_for_selector("#headline", timeout=FLEET_TIMEOUT_MS)
        assert _table_ids(page) == _api_ids(server, sort="-uptime_last_week")
        page.click("#page-next")
        assert _table_ids(page) == _api_ids(server, sort="-uptime_last_week", offset=50)
        page.fill("#q", "1")
        page.click("#store-search button")
        assert _table_ids(page) == _api_ids(server, sort="-uptime_last_week", q="1")
    finally:
        context.close()


def test_a_click_through_to_a_store_page_shows_its_outages(page: Any, server: Server) -> None:
    _fleet(page)
    store_id = DOWN_NOW[0]
    page.click(f"#down-table a:text-is('{store_id}')")
    page.wait_for_url(re.compile(r"/ui/stores/"))
    assert page.locator("h1").inner_text() == store_id
    with server.api() as api:
        outages = api.get(f"/stores/{quote(store_id, safe='')}/outages").json()["outages"]
    rows = page.locator("#outage-table tbody tr")
    shown = [
        (
            rows.nth(i).get_attribute("data-start"),
            rows.nth(i).get_attribute("data-end"),
            float(rows.nth(i).get_attribute("data-minutes") or "nan"),
        )
        for i in range(rows.count())
    ]
    assert shown == [(o["start_utc"], o["end_utc"], o["duration_minutes"]) for o in outages]
    assert "down now" in rows.last.inner_text()
    page.wait_for_selector("#timeline[data-drawn]")
    box = page.locator("#timeline .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
    tip = page.locator("#timeline-tip")
    assert tip.is_visible()
    assert "UTC" in tip.inner_text()
    assert "America/Chicago" in page.locator(".meta").inner_text()  # no zone stored


def test_a_store_id_that_needs_encoding_has_its_page(page: Any) -> None:
    store_id = ODD_IDS[0]
    page.goto("/ui/stores/" + quote(store_id, safe=""))
    assert page.locator("h1").inner_text() == store_id
    page.wait_for_selector("#timeline[data-drawn]")
    assert page.locator("#figures-table tbody tr").count() == 3
    assert page.locator("#hours-none").is_visible()


def test_an_unknown_store_shows_the_apis_error(page: Any, console_allowed: list[str]) -> None:
    console_allowed.append("status of 404")
    page.goto("/ui/stores/no-such-store")
    assert "no-such-store" in page.locator("#store-error").inner_text()


def test_the_keyboard_reaches_the_content_first(page: Any) -> None:
    _fleet(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_screenshot_of_each_page(page: Any, width: int, tmp_path: Path) -> None:
    """Also the README's pictures: STOREMON_SCREENSHOTS=docs/screenshots (make screenshots)."""
    target = Path(os.environ.get("STOREMON_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    suffix = "" if width == 1280 else "-phone"
    page.set_viewport_size({"width": width, "height": 900})
    _fleet(page, "/?sort=-downtime_last_week")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the fleet page is {overflow} px wider than a {width} px screen"
    page.screenshot(path=str(target / f"fleet{suffix}.png"), full_page=width != 1280)
    page.click("#down-table a >> nth=0")
    page.wait_for_selector("#timeline[data-drawn]")
    page.screenshot(path=str(target / f"store{suffix}.png"), full_page=True)
    upload = tmp_path / "polls-with-typos.csv"
    upload.write_text(
        "store_id,status,timestamp_utc\n"
        "web-shot,active,2023-01-25 17:05:00 UTC\n"
        "web-shot,actve,2023-01-25 17:15:00 UTC\n"
        "web-shot,inactive,2023-01-25 17:65:00 UTC\n"
        ",inactive,2023-01-25 17:25:00 UTC\n"
    )
    page.goto("/ui/ingest")
    page.set_input_files("#ingest-file", str(upload))
    page.click("#ingest-submit")
    page.wait_for_selector("#rejects-table")
    page.screenshot(path=str(target / f"ingest{suffix}.png"), full_page=True)
    for name in ("fleet", "store", "ingest"):
        assert (target / f"{name}{suffix}.png").stat().st_size > 5000


def test_a_report_with_other_windows_has_their_columns(page: Any, server: Server) -> None:
    _fleet(page)
    page.fill("#report-windows", "1h, 30d")
    page.click("#report-submit")
    page.wait_for_selector("#report-complete", timeout=30_000)
    href = page.locator("#report-download").get_attribute("href")
    with server.api() as api:
        header = api.get(str(href)).text.splitlines()[0]
    assert header == (
        "store_id,uptime_last_hour,uptime_last_30d,downtime_last_hour,downtime_last_30d"
    )


def test_an_upload_with_many_bad_rows_lists_them(page: Any, server: Server, tmp_path: Path) -> None:
    lines = ["store_id,status,timestamp_utc"]
    lines += [f"web-many-{i},actve,2023-01-25 17:00:00 UTC" for i in range(12)]
    lines += ["web-many-ok,active,2023-01-25 17:00:00 UTC"]
    upload = tmp_path / "many.csv"
    upload.write_text("\n".join(lines) + "\n")
    page.goto("/ui/ingest")
    page.set_input_files("#ingest-file", str(upload))
    page.click("#ingest-submit")
    page.wait_for_selector("#rejects-table")
    rows = page.locator("#rejects-table tbody tr").all_inner_texts()
    with server.api() as api:
        has_rejects_api = "/rejects" in api.get("/openapi.json").json()["paths"]
    caption = page.locator("#rejects-caption").inner_text()
    if has_rejects_api:  # every rejected row, in line order
        assert [row.split("\t")[0] for row in rows] == [str(n) for n in range(2, 14)]
        assert caption == "Rejected rows (12)"
    else:  # the summary's first ones, said so
        assert [row.split("\t")[0] for row in rows] == ["2", "3", "4", "5", "6"]
        assert caption == "Rejected rows (the first 5 of 12)"
