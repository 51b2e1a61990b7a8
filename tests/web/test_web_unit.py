"""The dashboard's Python parts, in process: negotiation, static files, vendoring, formats,
the token flow's server side, and that API clients see no change."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from web_helpers import TestClient, make_settings

from storemon.api import create_app
from storemon.api.auth import SESSION_COOKIE, session_value
from storemon.web import formats, vendoring
from storemon.web.assets import Assets
from storemon.web.negotiation import accepts_gzip, prefers_html
from storemon.web.session import safe_next

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("*/*", False),  # curl, httpx
        ("", False),
        (None, False),
        ("application/json", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0", False),
        ("text/*", False),
    ],
)
def test_only_an_explicit_html_accept_gets_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


def test_gzip_is_taken_when_offered() -> None:
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip(None)


def test_assets_are_versioned_compressed_and_confined(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("console.log('x');\n" * 100)
    (tmp_path / "img.png").write_bytes(b"\x89PNG" + bytes(200))
    outside = tmp_path.parent / "secret.txt"
    outside.write_text("no")
    assets = Assets(tmp_path)
    url = assets.url("a.js")
    digest = url.rsplit("=", 1)[1]
    answer = assets.response("a.js", accept_encoding="gzip", version=digest)
    assert answer.headers["content-encoding"] == "gzip"
    assert "immutable" in answer.headers["cache-control"]
    assert gzip.decompress(answer.body) == (tmp_path / "a.js").read_bytes()
    plain = assets.response("a.js", accept_encoding=None, version="old")
    assert "content-encoding" not in plain.headers
    assert plain.headers["cache-control"] == "no-cache"
    image = assets.get("img.png")
    assert image is not None
    assert image.gzipped is None
    assert assets.get("../secret.txt") is None
    assert assets.get("missing.js") is None
    with pytest.raises(LookupError):
        assets.url("missing.js")


def test_the_vendored_files_match_the_manifest() -> None:
    assert vendoring.check() == []
    names = {file.target for package in vendoring.load_manifest() for file in package.files}
    assert {"uplot/uPlot.iife.min.js", "swagger-ui/swagger-ui-bundle.js"} <= names
    assert {"uplot/LICENSE", "swagger-ui/LICENSE", "redoc/LICENSE"} <= names


def test_a_changed_vendored_file_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "vendor"
    shutil.copytree(vendoring.VENDOR_DIR, copy)
    (copy / "uplot" / "uPlot.min.css").write_text("/* edited */")
    (copy / "swagger-ui" / "NOTICE").unlink()
    problems = vendoring.check(copy, copy / "manifest.json")
    assert len(problems) == 2
    assert any("uPlot.min.css: SHA-256 differs" in p for p in problems)
    assert any("NOTICE: missing" in p for p in problems)


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/ui/ingest", "/ui/ingest"),
        ("/?q=12&sort=-uptime_last_week", "/?q=12&sort=-uptime_last_week"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
        (None, "/"),
    ],
)
def test_login_redirects_only_to_this_server(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


def test_formats_carry_units() -> None:
    assert formats.count(14092) == "14,092"
    assert formats.percent(89.123) == "89.1 %"
    assert formats.hours(1234.5) == "1,234.50 h"
    assert formats.minutes(12.5) == "12.50 min"
    assert formats.minutes(60.0) == "60 min"
    assert formats.minutes(225.0) == "3 h 45 min"
    assert formats.instant_utc("2023-01-25T17:00:00Z") == "2023-01-25 17:00 UTC"
    assert formats.instant_utc("2023-01-25T17:00:05Z") == "2023-01-25 17:00:05 UTC"
    assert formats.local("2023-01-25T17:00:00Z", "America/New_York") == "Wed 2023-01-25 12:00 EST"
    assert formats.local("2023-07-05T17:00:00Z", "America/New_York") == "Wed 2023-07-05 13:00 EDT"
    assert formats.local("2023-01-25T17:00:00Z", "Not/AZone") == "2023-01-25 17:00 UTC"


@pytest.fixture
def open_client(tmp_path: Path) -> TestClient:
    with TestClient(create_app(make_settings(db=f"duckdb:///{tmp_path}/a.duckdb"))) as client:
        yield client  # type: ignore[misc]


@pytest.fixture
def token_client(tmp_path: Path) -> TestClient:
    settings = make_settings(db=f"duckdb:///{tmp_path}/b.duckdb", api_token="s3cret")
    with TestClient(create_app(settings)) as client:
        yield client  # type: ignore[misc]


def test_without_a_token_every_page_is_open_and_the_api_unchanged(open_client: TestClient) -> None:
    for path in ("/", "/ui/ingest", "/docs"):
        answer = open_client.get(path, headers={"Accept": BROWSER_ACCEPT})
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in answer.headers["content-security-policy"]
    api = open_client.get("/")  # httpx sends Accept: */*
    assert api.status_code == 404
    assert api.json() == {
        "error": "no such endpoint: GET / (see /docs)",
        "code": "not_found",
        "details": [],
    }
    assert open_client.get("/ui/login", follow_redirects=False).headers["location"] == "/"
    assert open_client.get("/redoc").status_code == 200


def test_empty_database_says_what_to_do(open_client: TestClient) -> None:
    page = open_client.get("/", headers={"Accept": BROWSER_ACCEPT}).text
    assert "No data yet" in page
    assert "storemon demo" in page


def test_no_page_or_docs_asset_comes_from_elsewhere(open_client: TestClient) -> None:
    for path in ("/", "/ui/ingest", "/docs", "/redoc"):
        page = open_client.get(path, headers={"Accept": BROWSER_ACCEPT}).text
        assert "http://" not in page.replace("http://testserver/", "")
        assert "https://" not in page
        assert "cdn" not in page.lower()


def test_with_a_token_pages_redirect_and_the_api_wants_the_header(
    token_client: TestClient,
) -> None:
    for path in ("/", "/ui/ingest", "/reports"):
        answer = token_client.get(path, headers={"Accept": BROWSER_ACCEPT}, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/ui/login?next=")
    # The API's description holds no data: open; its Authorize button takes the token.
    assert token_client.get("/docs", headers={"Accept": BROWSER_ACCEPT}).status_code == 200
    answer = token_client.get("/reports")
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"
    bearer = {"Authorization": "Bearer s3cret"}
    assert token_client.get("/reports", headers=bearer).status_code == 200
    assert token_client.get("/ui/static/app.css").status_code == 200  # no data in it
    assert token_client.get("/healthz").status_code == 200


def test_the_login_sets_a_strict_httponly_cookie_the_api_accepts(token_client: TestClient) -> None:
    wrong = token_client.post("/ui/login", content="token=nope&next=/", follow_redirects=False)
    assert wrong.status_code == 200
    assert "not the server" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    right = token_client.post(
        "/ui/login",
        content="token=s3cret&next=%2Fui%2Fingest",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/ui/ingest"
    cookie = right.headers["set-cookie"]
    assert f"{SESSION_COOKIE}={session_value('s3cret')}" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "s3cret" not in cookie
    token_client.cookies.clear()
    given = {"Cookie": f"{SESSION_COOKIE}={session_value('s3cret')}"}
    assert token_client.get("/reports", headers=given).status_code == 200
    forged = {"Cookie": f"{SESSION_COOKIE}={session_value('other')}"}
    assert token_client.get("/reports", headers=forged).status_code == 401
    assert token_client.get("/reports", headers={"Cookie": "s3cret"}).status_code == 401
    out = token_client.post("/ui/logout", headers=given, follow_redirects=False)
    assert out.status_code == 303
    assert (
        f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
        or "Max-Age=0" in out.headers["set-cookie"]
    )
