"""The browser tests' world: a small demo-like database, `storemon serve` on it, Chromium.

The data: the bundled demo hours and timezones (real stores) and eight days of generated
polls for a few dozen of them, ending at a fixed instant, plus stores whose ids need URL
encoding and two stores that are down at the end — small, so that every page loads fast.
"""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # As in tests/api/api_helpers.py: Starlette 1.x asks for the httpx2 fork in its
    # TestClient; the pinned httpx works, and the warning would be an error here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from serve_process import ServeProcess
from storemon import demo_data, schema
from storemon.api.auth import SESSION_COOKIE, session_value
from storemon.config import Settings
from storemon.generate import generate_polls, polls_csv
from storemon.ingest.csv import read_source
from storemon.ingest.service import ingest
from storemon.store import open_store

TOKEN = "web-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
END = datetime(2023, 1, 25, 18, 0, tzinfo=UTC)
STORES = 58
#: Ids that need encoding in a URL path (no hours, no zone: open 24x7 in America/Chicago).
ODD_IDS = ("north/5 café %", "store with spaces")
#: Stores made inactive for their last polls, so the fleet has stores down now.
DOWN_NOW = ("store with spaces",)
CHROMIUM = os.environ.get("STOREMON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


__all__ = ["TestClient", "make_settings"]


def make_settings(**overrides: object) -> Settings:
    """Settings for in-process tests: no .env file, no inbox, no token unless given."""
    values: dict[str, object] = {"inbox_enabled": False, "api_token": None}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def demo_like_polls() -> pa.Table:
    hours = read_source("hours", demo_data.hours_path()).table
    ids = sorted(set(pc.unique(hours.column("store_id")).to_pylist()))[:STORES]
    polls = generate_polls([*ids, *ODD_IDS], start=END - timedelta(days=8), end=END, seed=7)
    tail = pa.Table.from_pylist(
        [
            {"store_id": store, "timestamp_utc": END - timedelta(minutes=minutes), "active": False}
            for store in DOWN_NOW
            for minutes in (170, 110, 50, 1)
        ],
        schema=schema.POLLS,
    )
    return pa.concat_tables([polls, tail])


def load_database(url: str) -> None:
    store = open_store(url)
    try:
        ingest(
            store,
            {
                "status": polls_csv(demo_like_polls()),
                "hours": demo_data.hours_path(),
                "timezones": demo_data.timezones_path(),
            },
            names={"status": "demo-status.csv"},
        )
    finally:
        store.close()


class Server(ServeProcess):
    """`storemon serve` in a subprocess (one report worker), with or without a token."""

    def __init__(self, db_url: str, workdir: Path, token: str | None = TOKEN) -> None:
        super().__init__(db_url, workdir, token=token, args=("--workers", "1"))

    def api(self) -> httpx.Client:
        return self.client(timeout=20.0)

    def session_cookie(self) -> dict[str, str | bool]:
        """The cookie the login page sets, for a browser context that starts signed in."""
        assert self.token
        return {
            "name": SESSION_COOKIE,
            "value": session_value(self.token),
            "url": self.url,
            "httpOnly": True,
            "sameSite": "Strict",
        }
