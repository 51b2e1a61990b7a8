"""Several report job services on one database (servers behind a load balancer):
each job is held by one of them, runs once, and completes once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from report_waiting import wait_until
from storemon.jobs import ComputedReport, ReportJobs, new_report_id
from storemon.store import DataStore, JobRecord, Store

AS_OF = datetime(2023, 1, 23, 17, 0, tzinfo=UTC)
TIMEOUT = 10.0
LEASE = 60.0  # seconds: the heartbeat thread never fires in a test; they call maintain()


@dataclass
class Clock:
    """A clock the test moves."""

    now: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Gated:
    """A compute that waits for its gate, and counts the jobs it computed."""

    gate: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    computed: list[str] = field(default_factory=list)

    def __call__(self, store: DataStore, job: JobRecord) -> ComputedReport:
        self.started.set()
        assert self.gate.wait(TIMEOUT)
        self.computed.append(job.id)
        return ComputedReport(csv=f"by {job.lease_owner}\n".encode(), row_count=1, as_of_used=AS_OF)

    def close(self) -> None:
        pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def servers(store: Store, clock: Clock) -> Iterator[Callable[[Gated], ReportJobs]]:
    made: list[ReportJobs] = []

    def make(compute: Gated) -> ReportJobs:
        jobs = ReportJobs(store, workers=1, compute=compute, clock=clock, lease_seconds=LEASE)
        made.append(jobs)
        return jobs

    yield make
    for jobs in made:
        jobs.close()


def _done(jobs: ReportJobs, job_id: str) -> JobRecord:
    job = wait_until(
        lambda: jobs.get(job_id), lambda j: j.status in ("complete", "failed"), timeout=TIMEOUT
    )
    assert job.status in ("complete", "failed"), job
    return job


def test_a_live_servers_job_is_not_taken_by_another(
    store: Store, clock: Clock, servers: Callable[[Gated], ReportJobs]
) -> None:
    a_compute, b_compute = Gated(), Gated()
    b_compute.gate.set()
    a, b = servers(a_compute), servers(b_compute)
    job = a.trigger(as_of=AS_OF, interpolation="nearest").job
    assert job.lease_owner == a.owner
    assert a_compute.started.wait(TIMEOUT)
    assert b.recover() == []  # a's lease is live
    clock.advance(LEASE / 3)
    a.maintain()  # a renews
    clock.advance(LEASE * 0.9)
    b.maintain()  # within a's renewed lease: nothing to take
    assert b_compute.computed == []
    assert b.get(job.id).status == "running"  # read from the database: a runs it
    a_compute.gate.set()
    done = _done(a, job.id)
    assert done.status == "complete"
    assert store.job_result(job.id) == f"by {a.owner}\n".encode()
    assert _done(b, job.id).status == "complete"
    assert store.get_job(job.id).attempts == 1  # type: ignore[union-attr]


def test_a_job_whose_lease_expired_is_run_by_another_server_once(
    store: Store, clock: Clock, servers: Callable[[Gated], ReportJobs]
) -> None:
    """Server a stops renewing (it hangs, or lost the database) while computing; b takes
    the job over, computes and completes it; a's late result is refused, and a answers
    polls from the database, not from its memory."""
    a_compute, b_compute = Gated(), Gated()
    b_compute.gate.set()
    a, b = servers(a_compute), servers(b_compute)
    job = a.trigger(as_of=AS_OF, interpolation="nearest").job
    assert a_compute.started.wait(TIMEOUT)
    assert a.cached(job.id) is not None  # a holds it: memory answers
    clock.advance(LEASE + 1)  # a never renewed: its lease is over
    assert a.cached(job.id) is None  # and a no longer answers from memory
    b.maintain()  # b claims it
    done = _done(b, job.id)
    assert done.status == "complete"
    assert b_compute.computed == [job.id]
    a_compute.gate.set()  # a finishes computing: too late, b holds (held) the job
    wait_until(lambda: a.in_progress(), lambda c: c == {"queued": 0, "running": 0}, timeout=5)
    assert a.in_progress() == {"queued": 0, "running": 0}
    assert store.job_result(job.id) == f"by {b.owner}\n".encode()
    stored = store.get_job(job.id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.lease_owner) == ("complete", 2, b.owner)
    assert a.get(job.id).status == "complete"
    assert a.result(job.id) == f"by {b.owner}\n".encode()


def test_a_server_that_was_taken_over_lets_go_at_its_next_heartbeat(
    store: Store, clock: Clock, servers: Callable[[Gated], ReportJobs]
) -> None:
    a_compute, b_compute = Gated(), Gated()
    a, b = servers(a_compute), servers(b_compute)
    job = a.trigger(as_of=AS_OF, interpolation="nearest").job
    assert a_compute.started.wait(TIMEOUT)
    clock.advance(LEASE + 1)
    b.maintain()
    assert b_compute.started.wait(TIMEOUT)
    a.maintain()  # renews nothing for this job: b holds it
    assert a.cached(job.id) is None
    assert a.get(job.id).lease_owner == b.owner
    a_compute.gate.set()
    b_compute.gate.set()
    assert _done(b, job.id).status == "complete"


def test_recovery_takes_at_once_the_jobs_of_a_dead_server_on_this_host(
    store: Store, clock: Clock, servers: Callable[[Gated], ReportJobs]
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = socket.gethostname()
    owners = {
        "dead": f"{host}/{int(dead.stdout)}/abcd0123",
        "alive": f"{host}/{os.getpid()}/feed0123",  # this very process: a live server
        "elsewhere": f"another-host/{int(dead.stdout)}/abcd0123",
    }
    for name, owner in owners.items():
        store.insert_job(
            JobRecord(
                id=name,
                status="running",
                interpolation="nearest",
                as_of_requested=AS_OF,
                data_version=store.data_version(),
                created_at=clock.now,
                attempts=1,
                lease_owner=owner,
                lease_expires_at=clock.now + timedelta(seconds=LEASE),  # not expired
            )
        )
    compute = Gated()
    compute.gate.set()
    jobs = servers(compute)
    assert [job.id for job in jobs.recover()] == ["dead"]
    assert _done(jobs, "dead").status == "complete"
    assert store.get_job("alive").lease_owner == owners["alive"]  # type: ignore[union-attr]
    assert store.get_job("elsewhere").status == "running"  # type: ignore[union-attr]


def test_a_closed_service_gives_its_queued_jobs_up_at_once(
    store: Store, clock: Clock, servers: Callable[[Gated], ReportJobs]
) -> None:
    compute = Gated()
    a = ReportJobs(store, workers=1, compute=compute, clock=clock, lease_seconds=LEASE)
    running = a.trigger(as_of=AS_OF, interpolation="nearest").job
    assert compute.started.wait(TIMEOUT)
    queued = a.trigger(as_of=AS_OF, interpolation="previous").job
    threading.Timer(0.2, compute.gate.set).start()
    a.close()
    left = store.get_job(queued.id)
    assert left is not None
    assert (left.status, left.lease_owner) == ("queued", None)
    assert store.get_job(running.id).status == "complete"  # type: ignore[union-attr]
    b_compute = Gated()
    b_compute.gate.set()
    b = servers(b_compute)
    assert [job.id for job in b.recover()] == [queued.id]  # no lease to wait out
    assert _done(b, queued.id).status == "complete"


def test_jobs_from_before_leases_are_recovered(
    store: Store, clock: Clock, servers: Callable[[Gated], ReportJobs]
) -> None:
    old = JobRecord(
        id=new_report_id(),
        status="queued",
        interpolation="nearest",
        as_of_requested=AS_OF,
        data_version=store.data_version(),
        created_at=clock.now,
    )
    store.insert_job(old)  # no lease at all, as migration 4 leaves existing jobs
    compute = Gated()
    compute.gate.set()
    jobs = servers(compute)
    assert [job.id for job in jobs.recover()] == [old.id]
    assert _done(jobs, old.id).status == "complete"
