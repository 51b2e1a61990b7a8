"""The report queue is bounded (also at start-up), and finished results expire."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from test_jobs_leases import AS_OF, TIMEOUT, Clock, Gated

from report_waiting import wait_until
from storemon.errors import QueueFull, ReportExpired
from storemon.jobs import ReportJobs
from storemon.store import JobRecord, Store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gated() -> Iterator[Gated]:
    compute = Gated()
    yield compute
    compute.gate.set()


def _at(minute: int) -> datetime:
    return AS_OF - timedelta(minutes=minute)


def test_beyond_the_bound_a_trigger_is_refused_with_when_to_retry(
    store: Store, gated: Gated, clock: Clock
) -> None:
    jobs = ReportJobs(store, workers=1, compute=gated, clock=clock, queue_max=2)
    try:
        running = jobs.trigger(as_of=_at(0), interpolation="nearest").job
        assert gated.started.wait(TIMEOUT)
        queued = [jobs.trigger(as_of=_at(m), interpolation="nearest").job for m in (1, 2)]
        assert jobs.in_progress() == {"queued": 2, "running": 1}
        with pytest.raises(QueueFull) as caught:
            jobs.trigger(as_of=_at(3), interpolation="nearest")
        assert (caught.value.queued, caught.value.bound) == (2, 2)
        assert 1 <= caught.value.retry_after_seconds <= 60
        assert "STOREMON_REPORT_QUEUE_MAX=2" in str(caught.value)
        assert f"try again in {caught.value.retry_after_seconds} s" in str(caught.value)
        # An identical trigger adds nothing to the queue: it is still answered.
        again = jobs.trigger(as_of=_at(1), interpolation="nearest")
        assert again.reused
        assert again.job.id == queued[0].id
        assert len(store.list_jobs()) == 3  # the refused trigger stored nothing
        gated.gate.set()
        for job in [running, *queued]:
            wait_until(lambda j=job: jobs.get(j.id).status, lambda s: s == "complete", timeout=10)
        assert jobs.trigger(as_of=_at(3), interpolation="nearest").reused is False
    finally:
        jobs.close()


def test_a_finished_result_expires_after_the_retention(store: Store, clock: Clock) -> None:
    compute = Gated()
    compute.gate.set()
    retention = timedelta(hours=2)
    jobs = ReportJobs(store, compute=compute, clock=clock, retention=retention)
    try:
        job = jobs.trigger(as_of=AS_OF, interpolation="nearest").job
        wait_until(lambda: jobs.get(job.id).status, lambda s: s == "complete", timeout=TIMEOUT)
        assert jobs.result(job.id) is not None
        assert jobs.cached_result(job.id) is not None
        clock.advance(2 * 3600 - 1)
        assert jobs.result(job.id) is not None  # still within the retention
        clock.advance(2)
        assert jobs.cached_result(job.id) is None  # memory does not serve it either
        with pytest.raises(ReportExpired) as caught:
            jobs.result(job.id)
        assert caught.value.report_id == job.id
        assert "kept for 2 h" in str(caught.value)
        assert "trigger the report again" in str(caught.value)
        assert jobs.get(job.id).status == "complete"  # the record stays, to say why
        # An identical trigger computes it again rather than reusing the expired job.
        fresh = jobs.trigger(as_of=AS_OF, interpolation="nearest")
        assert not fresh.reused
        wait_until(
            lambda: jobs.get(fresh.job.id).status, lambda s: s == "complete", timeout=TIMEOUT
        )
        jobs.maintain()  # removes the expired CSV from the database
        assert store.job_result(job.id) is None
        assert store.job_result(fresh.job.id) is not None
        with pytest.raises(ReportExpired):
            jobs.result(job.id)
    finally:
        jobs.close()

    # A later server (or one with a longer retention) tells a removed CSV as expired too.
    later = ReportJobs(store, compute=compute, clock=clock, retention=timedelta(days=30))
    try:
        with pytest.raises(ReportExpired):
            later.result(job.id)
    finally:
        later.close()


def test_recovery_takes_no_more_jobs_than_the_queue_holds(
    store: Store, gated: Gated, clock: Clock
) -> None:
    version = store.data_version()
    for index in range(10):
        store.insert_job(
            JobRecord(
                id=f"left-{index}",
                status="queued",
                interpolation="nearest",
                as_of_requested=_at(index),
                data_version=version,
                created_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=index),
            )
        )
    jobs = ReportJobs(store, workers=1, compute=gated, clock=clock, queue_max=3)
    try:
        taken = jobs.recover()
        assert len(taken) == 10
        assert gated.started.wait(TIMEOUT)
        assert jobs.in_progress()["running"] + jobs.in_progress()["queued"] == 3
        failed = [store.get_job(f"left-{index}") for index in range(3, 10)]
        assert all(job is not None and job.status == "failed" for job in failed)
        error = failed[0].error if failed[0] is not None else None
        assert error is not None
        assert "STOREMON_REPORT_QUEUE_MAX=3" in error
        assert "trigger the report again" in error
        # The oldest three run; a new trigger waits behind them, not behind all ten.
        assert [job.status for job in store.list_jobs(limit=20)].count("failed") == 7
        new = jobs.trigger(as_of=_at(30), interpolation="previous").job
        threading.Timer(0.1, gated.gate.set).start()
        for job_id in ["left-0", "left-1", "left-2", new.id]:
            wait_until(lambda j=job_id: jobs.get(j).status, lambda s: s == "complete", timeout=10)
        assert store.job_counts() == {"queued": 0, "running": 0, "complete": 4, "failed": 7}
    finally:
        jobs.close()
