"""End to end: the real `storemon serve` in a subprocess, on a DuckDB file and on PostgreSQL.

Ingest the small fixture files over HTTP, trigger, poll, download; stop the server,
leave an unfinished job behind in the database (as a crash would), restart: the old
report is served with the same bytes and the unfinished job is completed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from report_waiting import wait_for_report
from serve_process import ServeProcess
from storemon.store import JobRecord, open_store

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parent.parent / "data" / "api"
TOKEN = "e2e-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AS_OF = "2023-01-23 17:00:00 UTC"
EXPECTED_CSV = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week\n"
    "S,0.00,1.74,1.74,60.00,1.26,1.26\n"
    "T,60.00,24.00,168.00,0.00,0.00,0.00\n"
)


class Server(ServeProcess):
    """`storemon serve` in a subprocess, with the tests' token."""

    def __init__(self, db_url: str, workdir: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(db_url, workdir, token=TOKEN, env=env)


def _serve(db_url: str, workdir: Path) -> Iterator[Server]:
    running = Server(db_url, workdir)
    try:
        yield running
    finally:
        if running.process is not None:
            running.process.kill()
            running.process.wait()


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[Server]:
    yield from _serve(store_url, tmp_path)


@pytest.fixture
def duckdb_server(duckdb_url: str, tmp_path: Path) -> Iterator[Server]:
    yield from _serve(duckdb_url, tmp_path)


def test_ingest_trigger_download_restart_download(server: Server, store_url: str) -> None:
    server.start()
    with server.client() as client:
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # no token needed
        assert httpx.get(f"{server.url}/metrics").status_code == 401

        for source in ("timezones", "hours", "status"):
            response = client.post(
                f"/ingest/{source}",
                content=(DATA / f"{source}.csv").read_bytes(),
                headers={"Content-Type": "text/csv"},
            )
            assert response.status_code == 200, response.text
            summary = response.json()[source]
            assert summary["rejected"] == 0
            assert summary["loaded"] == summary["rows"] > 0

        trigger = client.post("/trigger_report", json={"as_of": AS_OF})
        assert trigger.status_code == 200
        report_id = trigger.json()["report_id"]
        first = wait_for_report(client, report_id)
        assert first.status_code == 200
        assert first.text == EXPECTED_CSV
        assert first.headers["x-report-status"] == "Complete"
        assert "storemon_reports_finished_total" in client.get("/metrics").text
    server.stop()

    # What a crash leaves behind: a job still "running" in the database.
    store = open_store(store_url)
    interrupted = JobRecord(
        id="interrupted-job-0001",
        status="queued",
        interpolation="previous",
        as_of_requested=datetime(2023, 1, 23, 17, 0, tzinfo=UTC),
        data_version=store.data_version(),
        created_at=datetime.now(UTC),
    )
    store.insert_job(interrupted)
    store.mark_running(interrupted.id, started_at=datetime.now(UTC))
    store.close()

    server.start()
    with server.client() as client:
        again = client.get("/get_report", params={"report_id": report_id})
        assert again.status_code == 200
        assert again.content == first.content
        info = client.get(f"/reports/{report_id}").json()
        assert info["status"] == "complete"
        assert info["row_count"] == 2

        recovered = wait_for_report(client, interrupted.id)
        assert recovered.status_code == 200
        assert recovered.text.splitlines()[1] == "S,15.00,2.25,2.25,45.00,0.75,0.75"

        # identical trigger on unchanged data: the stored job, no new computation
        reused = client.post("/trigger_report", json={"as_of": AS_OF}).json()
        assert reused == {"report_id": report_id, "status": "Complete"}
    server.stop()


def _children(pid: int) -> list[int]:
    """Pids of the processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(") ", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        if not alive:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_kill_9_mid_report_then_restart_completes_it(duckdb_server: Server) -> None:
    """A real crash right after a trigger: after a restart the report is served,
    never Running forever, and the killed server's worker processes are gone.
    (DuckDB only: the recovery on both backends is covered by the test above.)"""
    server = duckdb_server
    server.start()
    with server.client() as client:
        for source in ("timezones", "hours", "status"):
            content = (DATA / f"{source}.csv").read_bytes()
            assert client.post(f"/ingest/{source}", content=content).status_code == 200
        assert server.process is not None
        pid = server.process.pid
        report_id = client.post("/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
        workers = _children(pid)
        server.kill()
    assert workers, "the server had no worker processes"
    assert _gone(workers, timeout=10), f"workers {workers} outlived the killed server"

    server.start()
    with server.client() as client:
        done = wait_for_report(client, report_id)
        assert done.status_code == 200, done.text
        assert done.text == EXPECTED_CSV
    server.stop()


def test_port_in_use_exits_1_with_the_reason(duckdb_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "from storemon.cli import main; main()",
                "serve",
                "--port",
                str(port),
                "--db",
                duckdb_url,
                "--no-inbox",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")},
        )
    assert result.returncode == 1
    assert "address already in use" in (result.stdout + result.stderr).lower()
    assert f"could not start on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_bad_log_level_is_a_usage_error(duckdb_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from storemon.cli import main; main()",
            "serve",
            "--log-level",
            "loud",
            "--db",
            duckdb_url,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--log-level" in result.stderr
    assert "debug, info, warning, error" in result.stderr
