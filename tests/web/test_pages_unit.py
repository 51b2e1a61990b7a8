"""The pages render the contract's JSON (a stand-in router serves INSIGHT_API's shapes)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import fake_insight
import pytest
from web_helpers import TestClient, make_settings

from storemon.api import create_app
from storemon.web.store_page import store_url

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(make_settings(db=f"duckdb:///{tmp_path}/a.duckdb"))
    fake_insight.install(app, fake_insight.router())
    with TestClient(app) as client:
        yield client


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_store_url_encodes_any_id() -> None:
    assert store_url("north/5 café %") == "/ui/stores/north%2F5%20caf%C3%A9%20%25"


def test_the_store_page_shows_the_contracts_outages_figures_hours_and_zone(
    client: TestClient,
) -> None:
    answer = client.get(store_url(fake_insight.STORE), headers=BROWSER)
    assert answer.status_code == 200
    html = answer.text
    rows = re.findall(r'<tr data-start="([^"]+)" data-end="([^"]+)" data-minutes="([^"]+)">', html)
    assert rows == [
        (o["start_utc"], o["end_utc"], str(o["duration_minutes"]))
        for o in fake_insight.outages_body()["outages"]
    ]
    text = " ".join(_text(html).split())
    assert "Mon 2023-01-23 10:44:30 EST" in text  # 15:44:30 UTC in New York
    assert "2023-01-23 15:44:30 UTC" in text
    assert "6 h 16 min" in text  # 375.5 minutes
    assert "down now" in text
    assert "Monday 09:00 17:00 Wednesday 09:00 17:00" in text  # in weekday order
    assert "time zone America/New_York" in text
    assert "last hour 0 min 60 min 0 min 1 60 min" in text
    assert "last week 0.49 h 10.26 h 0.23 h 2 6.26 h" in text
    embedded = re.search(r'<script type="application/json" id="timeline-data">(.*?)</script>', html)
    assert embedded is not None
    assert json.loads(embedded.group(1)) == fake_insight.TIMELINE


def test_an_unknown_store_shows_the_apis_message(client: TestClient) -> None:
    answer = client.get(store_url("nope"), headers=BROWSER)
    assert answer.status_code == 404
    assert "no store &#39;nope&#39;" in answer.text
    assert 'id="timeline-data"' not in answer.text


@pytest.fixture
def fleet_client(tmp_path: Path) -> Iterator[TestClient]:
    from web_helpers import load_database

    url = f"duckdb:///{tmp_path}/f.duckdb"
    load_database(url)
    app = create_app(make_settings(db=url))
    fake_insight.install(app, fake_insight.fleet_router())
    with TestClient(app) as client:
        yield client


def _ids(html: str) -> list[str]:
    return re.findall(r'<td class="text store-id"><a href="/ui/stores/[^"]+">([^<]+)</a>', html)


def test_the_fleet_page_shows_the_summary_table_charts_and_down_now(
    fleet_client: TestClient,
) -> None:
    html = fleet_client.get("/", headers=BROWSER).text
    text = " ".join(_text(html).split())
    assert "stores reported 70" in text
    assert "uptime in business hours 50.7 % 2,485.00 h of 4,900.00 h" in text
    assert "stores down now 1" in text
    assert html.count('class="cell"') == 168
    assert html.count('class="bar"') == 20
    assert "70 stores had business hours" in text
    down, table = html.split('id="fleet-stores"')
    assert _ids(table)[:3] == ["s00", "s01", "s02"]
    assert len(_ids(table)) == 50
    assert "page 1 of 2" in text
    assert _ids(down.split('id="down-now"')[1]) == [fake_insight.STORE]
    assert 'href="/ui/stores/north%2F5%20caf%C3%A9%20%25"' in down


def test_the_fleet_tables_state_is_the_url(fleet_client: TestClient) -> None:
    html = fleet_client.get("/?sort=-downtime_last_week&page=2", headers=BROWSER).text
    table = html.split('id="fleet-stores"')[1]
    assert _ids(table) == [f"s{i:02d}" for i in range(19, -1, -1)]
    assert 'aria-sort="descending"' in table
    assert 'href="/?sort=-downtime_last_week"' in table  # previous page: page 1 is the default
    assert 'href="/?sort=downtime_last_week"' in table  # the sorted column flips
    searched = fleet_client.get("/?q=s1&window=24h", headers=BROWSER).text
    assert _ids(searched.split('id="fleet-stores"')[1]) == [f"s{i}" for i in range(10, 20)]
    assert 'value="s1"' in searched
    assert 'aria-current="true">last day' in searched
    nothing = fleet_client.get("/?q=zzz", headers=BROWSER).text
    assert "No store id starts with “zzz”" in nothing
    odd = fleet_client.get("/?sort=nonsense&page=-3", headers=BROWSER)
    assert odd.status_code == 200
    assert _ids(odd.text.split('id="fleet-stores"')[1])[0] == "s00"
