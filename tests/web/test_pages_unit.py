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
    app.include_router(fake_insight.router())
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
