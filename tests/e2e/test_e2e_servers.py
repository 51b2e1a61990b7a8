"""Two real `storemon serve` processes on one PostgreSQL database (as behind a load
balancer): every report job is run and completed once, and a poller, on either
server, never sees a 500 for a job that completes, also when one server is killed
(SIGKILL) mid-report."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from test_e2e_server import DATA, Server

from report_waiting import TIMEOUT_SECONDS as POLL_TIMEOUT
from storemon.ingest.service import ingest
from storemon.store import JobRecord, open_store

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

LEASE_SECONDS = "2"
AS_OF = datetime(2023, 1, 23, 17, 0, tzinfo=UTC)


@pytest.fixture
def two_servers(pg_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    made = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        made.append(
            Server(pg_url, tmp_path / name, env={"STOREMON_REPORT_LEASE_SECONDS": LEASE_SECONDS})
        )
    try:
        yield made[0], made[1]
    finally:
        for server in made:
            if server.process is not None:
                server.process.kill()
                server.process.wait()


def _load(pg_url: str, left_queued: int) -> list[str]:
    """The fixture data, and ``left_queued`` jobs a stopped server left unfinished."""
    store = open_store(pg_url)
    try:
        ingest(store, {"status": DATA / "status.csv", "hours": DATA / "hours.csv"})
        ingest(store, {"timezones": DATA / "timezones.csv"})
        ids = [f"left-{index}" for index in range(left_queued)]
        for index, job_id in enumerate(ids):
            store.insert_job(
                JobRecord(
                    id=job_id,
                    status="queued" if index % 2 else "running",
                    interpolation="nearest",
                    as_of_requested=AS_OF - timedelta(minutes=index),
                    data_version=store.data_version(),
                    created_at=datetime.now(UTC),
                    attempts=index % 2,
                )
            )
        return ids
    finally:
        store.close()


def _poll_all(servers: list[Server], ids: list[str]) -> dict[str, int]:
    """Poll every job on every server in turn until each is done; the final status
    code of each. A 500 (Failed) anywhere fails the test at once."""
    clients = [server.client() for server in servers]
    final: dict[str, int] = {}
    deadline = time.monotonic() + 3 * POLL_TIMEOUT
    try:
        for client in itertools.cycle(clients):
            for job_id in ids:
                if job_id in final:
                    continue
                response = client.get("/get_report", params={"report_id": job_id})
                assert response.status_code in (200, 202), (job_id, response.text)
                if response.status_code == 200:
                    final[job_id] = 200
            if len(final) == len(ids) or time.monotonic() > deadline:
                return final
            time.sleep(0.02)
    finally:
        for client in clients:
            client.close()
    return final  # pragma: no cover - the loop returns


def _jobs(pg_url: str, ids: list[str]) -> dict[str, JobRecord]:
    store = open_store(pg_url)
    try:
        found = {job_id: store.get_job(job_id) for job_id in ids}
    finally:
        store.close()
    assert all(job is not None for job in found.values())
    return {job_id: job for job_id, job in found.items() if job is not None}


def _completions(servers: list[Server], job_id: str) -> int:
    """How many times the servers' logs say this report completed."""
    return sum(server.log.read_text().count(f"report {job_id} complete") for server in servers)


def test_two_servers_started_together_run_every_job_once(
    two_servers: tuple[Server, Server], pg_url: str
) -> None:
    left = _load(pg_url, left_queued=8)
    servers = list(two_servers)
    for server in servers:  # started together: both recover the jobs left behind
        server.launch()
    for server in servers:
        server.wait_ready()
    triggered = []
    for minute, server in zip(range(10, 16), itertools.cycle(servers), strict=False):
        with server.client() as client:
            response = client.post(
                "/trigger_report",
                json={"as_of": (AS_OF + timedelta(minutes=minute)).isoformat()},
            )
            assert response.status_code == 200, response.text
            triggered.append(response.json()["report_id"])
    ids = left + triggered
    assert _poll_all(servers, ids) == dict.fromkeys(ids, 200)
    jobs = _jobs(pg_url, ids)
    for job_id, job in jobs.items():
        assert job.status == "complete", job
        started_before = 1 if job_id in left and int(job_id.rsplit("-", 1)[1]) % 2 else 0
        assert job.attempts == started_before + 1, job  # run once
        assert _completions(servers, job_id) == 1, job_id
    for server in servers:
        server.stop()


def test_a_server_killed_mid_report_leaves_its_jobs_to_the_other(
    two_servers: tuple[Server, Server], pg_url: str
) -> None:
    _load(pg_url, left_queued=0)
    a, b = two_servers
    a.start()
    b.start()
    with a.client() as client:
        ids = [
            client.post(
                "/trigger_report",
                json={"as_of": (AS_OF - timedelta(minutes=minute)).isoformat()},
            ).json()["report_id"]
            for minute in range(4)
        ]
    a.kill()  # SIGKILL right after the triggers: its jobs are queued or running
    started = time.monotonic()
    assert _poll_all([b], ids) == dict.fromkeys(ids, 200)  # never a 500 on the way
    assert time.monotonic() - started < POLL_TIMEOUT
    jobs = _jobs(pg_url, ids)
    for job_id, job in jobs.items():
        assert job.status == "complete", job
        assert _completions([a, b], job_id) == 1, job_id
    with b.client() as client:
        for job_id in ids:
            response = client.get(f"/reports/{job_id}.csv")
            assert response.status_code == 200
            assert response.text.startswith("store_id,")
    b.stop()
    with httpx.Client() as probe, pytest.raises(httpx.TransportError):
        probe.get(f"{a.url}/healthz", timeout=1.0)
