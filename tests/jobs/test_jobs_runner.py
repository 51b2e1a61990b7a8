"""Report jobs on both backends: lifecycle, reuse of identical work, failures, recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from report_waiting import wait_until
from storemon.errors import ReportNotFound, StoreError
from storemon.jobs import ComputedReport, ReportJobs, new_report_id
from storemon.schema import Interpolation
from storemon.store import DataStore, IngestBatch, JobRecord, Store, open_store

AS_OF = datetime(2023, 1, 23, 17, 0, tzinfo=UTC)
TIMEOUT = 10.0


@dataclass
class FakeCompute:
    """A controllable compute function: counts calls, can block or fail."""

    gate: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None
    summary: dict[str, object] = field(default_factory=dict)
    calls: list[tuple[datetime | None, Interpolation]] = field(default_factory=list)
    jobs: list[JobRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gate.set()  # open unless a test closes it

    closed: int = 0

    def __call__(self, store: DataStore, job: JobRecord) -> ComputedReport:
        as_of, interpolation = job.as_of_requested, job.interpolation
        with self.lock:
            self.calls.append((as_of, interpolation))
            self.jobs.append(job)
        self.started.set()
        assert self.gate.wait(TIMEOUT)
        if self.error is not None:
            raise self.error
        body = f"store_id,x\n{interpolation},{as_of}\n".encode()
        return ComputedReport(
            csv=body, row_count=1, as_of_used=as_of or AS_OF, summary=dict(self.summary)
        )

    def close(self) -> None:
        self.closed += 1


def wait_for(jobs: ReportJobs, job_id: str, status: str) -> JobRecord:
    job = wait_until(lambda: jobs.get(job_id), lambda job: job.status == status, timeout=TIMEOUT)
    assert job.status == status, f"job {job_id} never became {status}: {job}"
    return job


@pytest.fixture
def compute() -> FakeCompute:
    return FakeCompute()


@pytest.fixture
def make_jobs(store: Store) -> Iterator[Callable[..., ReportJobs]]:
    made: list[ReportJobs] = []

    def make(compute: FakeCompute, *, target: Store = store, workers: int = 2) -> ReportJobs:
        jobs = ReportJobs(target, workers=workers, compute=compute)
        made.append(jobs)
        return jobs

    yield make
    for jobs in made:
        jobs.close()


def test_job_goes_queued_running_complete_and_is_stored(
    store: Store, compute: FakeCompute, make_jobs: Callable[..., ReportJobs]
) -> None:
    compute.gate.clear()
    jobs = make_jobs(compute)
    outcome = jobs.trigger(as_of=AS_OF, interpolation="previous")
    assert not outcome.reused
    assert outcome.job.status == "queued"
    assert compute.started.wait(TIMEOUT)
    assert jobs.get(outcome.job.id).status == "running"
    assert store.get_job(outcome.job.id).status == "running"
    assert jobs.result(outcome.job.id) is None

    compute.gate.set()
    done = wait_for(jobs, outcome.job.id, "complete")
    assert done.row_count == 1
    assert done.as_of_used == AS_OF
    assert done.started_at is not None
    assert done.finished_at is not None
    assert done.finished_at >= done.started_at
    stored = store.get_job(outcome.job.id)
    assert stored is not None
    assert stored.status == "complete"
    assert store.job_result(outcome.job.id) == jobs.result(outcome.job.id)
    assert jobs.result(outcome.job.id) == f"store_id,x\nprevious,{AS_OF}\n".encode()


def test_identical_burst_on_unchanged_data_computes_once(
    compute: FakeCompute, make_jobs: Callable[..., ReportJobs]
) -> None:
    compute.gate.clear()
    jobs = make_jobs(compute)
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def trigger() -> None:
        barrier.wait()
        ids.append(jobs.trigger(as_of=None, interpolation="nearest").job.id)

    threads = [threading.Thread(target=trigger) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(set(ids)) == 1
    compute.gate.set()
    wait_for(jobs, ids[0], "complete")
    again = jobs.trigger(as_of=None, interpolation="nearest")  # complete is reused too
    assert again.reused
    assert again.job.id == ids[0]
    assert again.job.status == "complete"
    assert len(compute.calls) == 1


def test_other_parameters_or_new_data_make_a_new_job(
    store: Store, compute: FakeCompute, make_jobs: Callable[..., ReportJobs], tables: type
) -> None:
    jobs = make_jobs(compute)
    first = jobs.trigger(as_of=AS_OF, interpolation="nearest").job
    assert jobs.trigger(as_of=AS_OF, interpolation="previous").job.id != first.id
    assert jobs.trigger(as_of=None, interpolation="nearest").job.id != first.id
    wait_for(jobs, first.id, "complete")
    store.apply_ingest(IngestBatch(polls=tables.polls([("S", "2023-01-23 10:00", True)])))
    after = jobs.trigger(as_of=AS_OF, interpolation="nearest")
    assert not after.reused
    assert after.job.id != first.id
    assert after.job.data_version == store.data_version() != first.data_version


def test_options_make_another_job_and_the_summary_is_stored(
    store: Store, compute: FakeCompute, make_jobs: Callable[..., ReportJobs]
) -> None:
    compute.summary = {"warnings": ["no poll at or before as_of"], "stale_stores": 3}
    jobs = make_jobs(compute)
    plain = jobs.trigger(as_of=AS_OF, interpolation="nearest").job
    wide = jobs.trigger(as_of=AS_OF, interpolation="nearest", options='{"windows":["30d"]}')
    assert not wide.reused
    assert wide.job.id != plain.id
    assert wide.job.options == '{"windows":["30d"]}'
    assert plain.options == "{}"
    done = wait_for(jobs, wide.job.id, "complete")
    expected = '{"stale_stores": 3, "warnings": ["no poll at or before as_of"]}'
    assert done.summary == expected
    assert store.get_job(wide.job.id).summary == expected  # type: ignore[union-attr]
    again = jobs.trigger(as_of=AS_OF, interpolation="nearest", options='{"windows":["30d"]}')
    assert again.reused
    assert again.job.id == wide.job.id


def test_report_ids_are_unguessable_tokens() -> None:
    ids = {new_report_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) >= 22 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (StoreError("the database is gone"), "the database is gone"),
        (ZeroDivisionError("division by zero"), "internal error: ZeroDivisionError"),
    ],
)
def test_a_failing_compute_marks_the_job_failed_with_the_reason(
    store: Store,
    compute: FakeCompute,
    make_jobs: Callable[..., ReportJobs],
    error: Exception,
    message: str,
) -> None:
    compute.error = error
    seen: list[JobRecord] = []
    jobs = ReportJobs(store, workers=1, compute=compute, on_finished=seen.append)
    try:
        job = jobs.trigger(as_of=None, interpolation="nearest").job
        failed = wait_for(jobs, job.id, "failed")
        assert failed.error is not None
        assert message in failed.error
        stored = store.get_job(job.id)
        assert stored is not None
        assert stored.status == "failed"
        assert stored.error == failed.error
        assert jobs.result(job.id) is None
        # a failed job is not reused: triggering again tries again
        compute.error = None
        retry = jobs.trigger(as_of=None, interpolation="nearest")
        assert not retry.reused
        assert retry.job.id != job.id
        wait_for(jobs, retry.job.id, "complete")
        assert [record.status for record in seen] == ["failed", "complete"]
    finally:
        jobs.close()


def test_unknown_id_is_report_not_found(
    compute: FakeCompute, make_jobs: Callable[..., ReportJobs]
) -> None:
    jobs = make_jobs(compute)
    with pytest.raises(ReportNotFound, match="no-such-id"):
        jobs.get("no-such-id")
    assert jobs.result("no-such-id") is None


def test_finished_report_is_served_by_a_new_process(store_url: str, compute: FakeCompute) -> None:
    first = open_store(store_url)
    jobs = ReportJobs(first, compute=compute)
    job_id = jobs.trigger(as_of=AS_OF, interpolation="nearest").job.id
    wait_for(jobs, job_id, "complete")
    csv = jobs.result(job_id)
    jobs.close()
    first.close()

    second = open_store(store_url)
    try:
        restarted = ReportJobs(second, compute=compute)
        assert restarted.recover() == []
        assert restarted.get(job_id).status == "complete"
        assert restarted.result(job_id) == csv
        again = restarted.trigger(as_of=AS_OF, interpolation="nearest")
        assert again.reused
        assert again.job.id == job_id
        restarted.close()
    finally:
        second.close()
    assert len(compute.calls) == 1


def _insert_queued_job(store: Store, interpolation: Interpolation) -> JobRecord:
    """A job as a previous process left it in the database: queued, never finished."""
    job = JobRecord(
        id=new_report_id(),
        status="queued",
        interpolation=interpolation,
        as_of_requested=AS_OF,
        data_version=store.data_version(),
        created_at=datetime(2023, 1, 23, 17, 1, tzinfo=UTC),
    )
    store.insert_job(job)
    return job


@pytest.mark.parametrize("left", ["queued", "running"])
def test_jobs_left_unfinished_by_a_crash_are_run_again(
    store: Store, compute: FakeCompute, make_jobs: Callable[..., ReportJobs], left: str
) -> None:
    crashed = _insert_queued_job(store, "previous")
    if left == "running":
        store.mark_running(crashed.id, started_at=datetime(2023, 1, 23, 17, 2, tzinfo=UTC))
    jobs = make_jobs(compute)
    assert [job.id for job in jobs.recover()] == [crashed.id]
    done = wait_for(jobs, crashed.id, "complete")
    assert done.interpolation == "previous"
    assert done.as_of_used == AS_OF
    assert store.unfinished_jobs() == []
    assert compute.calls == [(AS_OF, "previous")]


def test_a_job_cut_off_twice_while_running_is_failed_not_run_again(
    store: Store, compute: FakeCompute, make_jobs: Callable[..., ReportJobs]
) -> None:
    crashed = _insert_queued_job(store, "nearest")
    for minute in (2, 3):  # two runs, each cut off by a crash (never completed)
        store.mark_running(crashed.id, started_at=datetime(2023, 1, 23, 17, minute, tzinfo=UTC))
    assert store.get_job(crashed.id).attempts == 2  # type: ignore[union-attr]
    jobs = make_jobs(compute)
    assert [job.id for job in jobs.recover()] == [crashed.id]
    failed = store.get_job(crashed.id)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.error is not None
    assert "stopped while computing this report 2 times" in failed.error
    assert store.unfinished_jobs() == []
    assert compute.calls == []


def test_a_job_cut_off_once_is_run_again_and_counts_its_attempts(
    store: Store, compute: FakeCompute, make_jobs: Callable[..., ReportJobs]
) -> None:
    crashed = _insert_queued_job(store, "nearest")
    store.mark_running(crashed.id, started_at=datetime(2023, 1, 23, 17, 2, tzinfo=UTC))
    jobs = make_jobs(compute)
    jobs.recover()
    done = wait_for(jobs, crashed.id, "complete")
    assert store.get_job(done.id).attempts == 2  # type: ignore[union-attr]


def test_close_waits_for_running_and_leaves_queued_for_the_next_start(
    store: Store, compute: FakeCompute, make_jobs: Callable[..., ReportJobs]
) -> None:
    compute.gate.clear()
    jobs = ReportJobs(store, workers=1, compute=compute)
    running = jobs.trigger(as_of=AS_OF, interpolation="nearest").job
    assert compute.started.wait(TIMEOUT)
    queued = jobs.trigger(as_of=AS_OF, interpolation="previous").job
    assert jobs.in_progress() == {"queued": 1, "running": 1}
    threading.Timer(0.2, compute.gate.set).start()
    jobs.close()  # waits for the running job, cancels the queued one
    assert store.get_job(running.id).status == "complete"
    assert store.get_job(queued.id).status == "queued"
    with pytest.raises(RuntimeError, match="shut down"):
        jobs.trigger(as_of=None, interpolation="nearest")

    restarted = make_jobs(compute)
    assert [job.id for job in restarted.recover()] == [queued.id]
    wait_for(restarted, queued.id, "complete")


def test_concurrency_is_bounded_by_workers(
    compute: FakeCompute, make_jobs: Callable[..., ReportJobs]
) -> None:
    compute.gate.clear()
    jobs = make_jobs(compute, workers=2)
    ids = [
        jobs.trigger(as_of=datetime(2023, 1, day, tzinfo=UTC), interpolation="nearest").job.id
        for day in range(1, 6)
    ]
    deadline = time.monotonic() + TIMEOUT
    while jobs.in_progress()["running"] < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    assert jobs.in_progress() == {"queued": 3, "running": 2}
    compute.gate.set()
    for job_id in ids:
        wait_for(jobs, job_id, "complete")
    assert jobs.in_progress() == {"queued": 0, "running": 0}


def test_a_result_that_cannot_be_stored_fails_the_job(
    store: Store,
    compute: FakeCompute,
    make_jobs: Callable[..., ReportJobs],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(store, "mark_complete", refuse)
    jobs = make_jobs(compute)
    job = jobs.trigger(as_of=None, interpolation="nearest").job
    failed = wait_for(jobs, job.id, "failed")
    assert failed.error == "could not store the report: disk full"
    stored = store.get_job(job.id)
    assert stored is not None
    assert stored.status == "failed"
    assert jobs.in_progress() == {"queued": 0, "running": 0}


def test_the_compute_gets_the_running_job_and_is_closed_with_the_service(
    store: Store, compute: FakeCompute
) -> None:
    jobs = ReportJobs(store, compute=compute)
    job = jobs.trigger(as_of=AS_OF, interpolation="previous", options='{"x":1}').job
    wait_for(jobs, job.id, "complete")
    [given] = compute.jobs
    assert (given.id, given.status, given.options) == (job.id, "running", '{"x":1}')
    assert given.attempts == 1
    jobs.close()
    jobs.close()
    assert compute.closed == 1  # owned by the service, whatever its type


def test_the_in_thread_compute_calls_the_engine_through_compute_tables(
    store: Store, tables: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.jobs import compute as compute_module

    store.apply_ingest(IngestBatch(polls=tables.polls([("S", "2023-01-23 10:00", True)])))
    seen: list[JobRecord] = []
    real = compute_module.compute_tables

    def spy(
        polls: object, hours: object, timezones: object, job: JobRecord, fallbacks: object = None
    ) -> ComputedReport:
        seen.append(job)
        return real(polls, hours, timezones, job, fallbacks)  # type: ignore[arg-type]

    monkeypatch.setattr(compute_module, "compute_tables", spy)
    jobs = ReportJobs(store)  # the default strategy
    try:
        job = jobs.trigger(as_of=None, interpolation="nearest").job
        done = wait_for(jobs, job.id, "complete")
    finally:
        jobs.close()
    assert [j.id for j in seen] == [job.id]
    assert done.row_count == 1
    assert done.as_of_used == datetime(2023, 1, 23, 10, 0, tzinfo=UTC)


def test_a_slow_trigger_is_logged_with_where_its_time_went(
    store: Store,
    compute: FakeCompute,
    make_jobs: Callable[..., ReportJobs],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging
    import re

    jobs = make_jobs(compute)
    insert = store.insert_job

    def slow_insert(job: JobRecord) -> None:
        time.sleep(0.08)
        insert(job)

    with caplog.at_level(logging.INFO, logger="storemon.jobs.runner"):
        jobs.trigger(as_of=AS_OF, interpolation="previous")  # fast: not logged
        quick = [r for r in caplog.records if "report trigger took" in r.getMessage()]
        monkeypatch.setattr(store, "insert_job", slow_insert)
        jobs.trigger(as_of=AS_OF, interpolation="nearest")
    slow = [r.getMessage() for r in caplog.records if "report trigger took" in r.getMessage()]
    assert quick == [] or len(slow) == len(quick) + 1  # a loaded machine may log the first
    found = re.fullmatch(
        r"report trigger took \d+ ms \(trigger lock \d+ ms, data version \d+ ms, reuse lookup"
        r" \d+ ms, queue count \d+ ms, job insert (\d+) ms\)",
        slow[-1],
    )
    assert found is not None, slow[-1]
    assert int(found.group(1)) >= 80
