"""Browser-test fixtures: one server per session, one Chromium per module, a fresh page per test.

Every page a test opens is watched: a console error, an uncaught exception or a request
to anywhere but the test server fails the test (the dashboard must work offline).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import CHROMIUM, CHROMIUM_ARGS, Server, load_database


@pytest.fixture(scope="session")
def web_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A DuckDB file with the demo-like data (built once per session)."""
    path = tmp_path_factory.mktemp("web") / "web.duckdb"
    url = f"duckdb:///{path}"
    load_database(url)
    return url


@pytest.fixture(scope="session")
def server(web_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`storemon serve` with STOREMON_API_TOKEN set, on the demo-like database."""
    running = Server(web_db, tmp_path_factory.mktemp("serve"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser).

    Per module, not per session: Playwright's sync API keeps an event loop running in the
    main thread while it is started, which would break any later test that runs asyncio.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run `apt-get install -y chromium` "
            "(.ci/run does) or set STOREMON_CHROMIUM to its path"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


class Watch:
    """What went wrong on a page: console errors, page errors, requests off the server.

    A test that provokes an API error on purpose lists the resulting console line in
    ``allowed`` (Chromium logs every 4xx answer of a fetch as a console error).
    """

    def __init__(self, base_url: str, allowed: list[str]) -> None:
        self.base_url = base_url
        self.allowed = allowed
        self.problems: list[str] = []

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        if any(expected in message.text for expected in self.allowed):
            self.allowed.remove(next(e for e in self.allowed if e in message.text))
            return
        self.problems.append(f"console error: {message.text} ({message.location})")

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.base_url) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.problems.append(f"request off the server: {url}")
            route.abort()


@pytest.fixture
def console_allowed() -> list[str]:
    """Console errors a test expects (each allowed once), e.g. ``"status of 422"``."""
    return []


def _new_page(
    browser: Any, server: Server, allowed: list[str], *, signed_in: bool
) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    if signed_in:
        context.add_cookies([server.session_cookie()])
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch(server.url, allowed)
    watch.attach(page)
    try:
        yield page
    finally:
        context.close()
    assert watch.problems == [], "\n".join(watch.problems)
    assert allowed == [], f"expected console errors that did not happen: {allowed}"


@pytest.fixture
def page(browser: Any, server: Server, console_allowed: list[str]) -> Iterator[Any]:
    """A fresh signed-in browser page on the server."""
    yield from _new_page(browser, server, console_allowed, signed_in=True)


@pytest.fixture
def anonymous_page(browser: Any, server: Server, console_allowed: list[str]) -> Iterator[Any]:
    """A fresh browser page without the session cookie."""
    yield from _new_page(browser, server, console_allowed, signed_in=False)
