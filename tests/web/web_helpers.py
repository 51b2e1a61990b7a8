"""The browser tests' world: a small demo-like database, `storemon serve` on it, Chromium.

The data: the bundled demo hours and timezones (real stores) and eight days of generated
polls for a few dozen of them, ending at a fixed instant, plus stores whose ids need URL
encoding and two stores that are down at the end — small, so that every page loads fast.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # As in tests/api/api_helpers.py: Starlette 1.x asks for the httpx2 fork in its
    # TestClient; the pinned httpx works, and the warning would be an error here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

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
START_TIMEOUT = 30.0


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """`storemon serve` in a subprocess, with or without a token."""

    db_url: str
    workdir: Path
    token: str | None = TOKEN
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("STOREMON_")}
        if self.token:
            env["STOREMON_API_TOKEN"] = self.token
        command = [
            sys.executable,
            "-c",
            "from storemon.cli import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            self.db_url,
            "--no-inbox",
            "--no-access-log",
            "--workers",
            "1",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited at start-up:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        pytest.fail(f"the server did not answer within {START_TIMEOUT} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def api(self) -> httpx.Client:
        headers = AUTH if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=20.0)

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
