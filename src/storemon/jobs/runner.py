"""Report jobs: trigger (reusing identical work), run on a bounded pool, serve results, recover.

A job's state lives in the database (:class:`storemon.store.JobStore`), so a finished
report outlives the process and a job interrupted by a crash is run again. Jobs run
on a pool of ``workers`` threads, never on the event loop; each is computed by a
:class:`storemon.jobs.compute.Compute` strategy (in the job thread, or, as under
`storemon serve`, in a worker process).

Several servers may share one database (PostgreSQL behind a load balancer). A job is
held by a lease (:mod:`storemon.jobs.leases`): the server that queued it, or claimed
it after its holder's lease expired. Only the holder starts, completes or fails a job,
and a finished job never changes, so each job completes once. A heartbeat thread
renews this server's leases every third of the lease, and claims jobs whose lease
expired (a server died) while it has room. Polls are answered from memory only where
the database cannot say otherwise (:mod:`storemon.jobs.memory`).
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from storemon.errors import (
    QueueFull,
    ReportExpired,
    ReportNotFound,
    StoreError,
    StoremonError,
)
from storemon.jobs.compute import Compute, InThreadCompute
from storemon.jobs.leases import dead_here, new_owner_id
from storemon.jobs.memory import JobMemory
from storemon.jobs.summary import stored_warnings
from storemon.schema import Interpolation
from storemon.store.base import JobRecord, Store

__all__ = ["ReportJobs", "TriggerOutcome", "new_report_id", "utc_now"]

log = logging.getLogger(__name__)

#: Bytes of finished CSVs kept in memory (the benchmark report is about 0.7 MB).
DEFAULT_CACHE_BYTES: Final = 64 * 1024 * 1024
#: How long a server's hold on a job lasts unless renewed (every third of it).
DEFAULT_LEASE_SECONDS: Final = 30.0
#: How many reports a server queues (beyond those running) before refusing more.
DEFAULT_QUEUE_MAX: Final = 32
#: How long a finished report's CSV is kept.
DEFAULT_RETENTION: Final = timedelta(hours=24)
_PURGE_EVERY: Final = timedelta(minutes=1)
#: A job cut off this many times while running (the server died under it) is not run
#: again but failed: it may be what kills the server, and must not loop.
MAX_ATTEMPTS: Final = 2
#: Jobs claimed at once by one heartbeat (more wait for the next).
_CLAIM_BATCH: Final = 16
_EXCESS_BATCH: Final = 500
_MAX_RETRY_AFTER_SECONDS: Final = 60


@dataclass(frozen=True)
class TriggerOutcome:
    """The job a trigger returned, and whether it was an existing identical one."""

    job: JobRecord
    reused: bool


#: A trigger slower than this is logged (INFO) with where its time went.
SLOW_TRIGGER_SECONDS: Final = 0.05


class _Phases:
    """Where one call's time went: the seconds between named marks."""

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self._spent: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        """The time since the last mark was spent on ``name``."""
        now = time.perf_counter()
        self._spent.append((name, now - self._last))
        self._last = now

    def log_if_slow(self, what: str, seconds: float) -> None:
        total = time.perf_counter() - self._start
        if total >= seconds:
            spent = ", ".join(f"{name} {1000 * part:.0f} ms" for name, part in self._spent)
            log.info("%s took %.0f ms (%s)", what, 1000 * total, spent or "no step finished")


def utc_now() -> datetime:
    """The current instant, tz-aware UTC, microsecond precision."""
    return datetime.now(UTC)


def new_report_id() -> str:
    """An unguessable report id (128 random bits, URL-safe)."""
    return secrets.token_urlsafe(16)


class ReportJobs:
    """The report job service used by the HTTP API. Thread-safe.

    ``compute`` (default :class:`InThreadCompute`) belongs to the service from then
    on: :meth:`close` closes it. ``on_finished`` is called (from a worker thread)
    with the final record of every job this process finishes, e.g. to update metrics.
    ``lease_seconds``: how long this server's hold on a job lasts without renewal
    (a server that dies gives its jobs up after at most that long). ``queue_max``: how
    many jobs this server queues beyond those running; a trigger beyond it raises
    :class:`QueueFull`, and recovery takes no more. ``retention``: how long a finished
    report's CSV is kept (None: forever); after it, :meth:`result` raises
    :class:`ReportExpired`.
    """

    def __init__(
        self,
        store: Store,
        *,
        workers: int = 2,
        compute: Compute | None = None,
        on_finished: Callable[[JobRecord], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        queue_max: int = DEFAULT_QUEUE_MAX,
        retention: timedelta | None = DEFAULT_RETENTION,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if queue_max < 1:
            raise ValueError("queue_max must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.store = store
        self.workers = workers
        #: This service's owner id in the jobs' leases.
        self.owner = new_owner_id()
        self._compute: Compute = InThreadCompute() if compute is None else compute
        self._on_finished = on_finished
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self.queue_max = queue_max
        self.retention = retention
        self._seconds_per_job = 1.0  # a moving average, for Retry-After
        self._purged_at: datetime | None = None
        self._memory = JobMemory(cache_bytes, trusted_until=clock() + self._lease / 2)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="storemon-report")
        self._trigger_lock = threading.Lock()  # makes "find identical job, else insert" atomic
        self._leases_lock = threading.Lock()  # one look at the leases at a time
        self._closed = False
        self._stopping = threading.Event()
        self._heartbeat = threading.Thread(
            target=self._beat, name="storemon-report-leases", daemon=True
        )
        self._heartbeat.start()

    # -- triggering --------------------------------------------------------------------
    def trigger(
        self, *, as_of: datetime | None, interpolation: Interpolation, options: str = "{}"
    ) -> TriggerOutcome:
        """Start a report, or return the queued/running/complete job with the same
        parameters (``options`` compared as strings) on the same data (same
        ``data_version``)."""
        phases = _Phases()
        try:
            return self._trigger(phases, as_of, interpolation, options)
        finally:
            phases.log_if_slow("report trigger", SLOW_TRIGGER_SECONDS)

    def _trigger(
        self,
        phases: _Phases,
        as_of: datetime | None,
        interpolation: Interpolation,
        options: str,
    ) -> TriggerOutcome:
        with self._trigger_lock:
            phases.mark("trigger lock")
            if self._closed:
                raise RuntimeError("the report job service is shut down")
            version = self.store.data_version()
            phases.mark("data version")
            now = self._clock()
            existing = self.store.find_reusable_job(
                as_of_requested=as_of,
                interpolation=interpolation,
                data_version=version,
                options=options,
                complete_since=None if self.retention is None else now - self.retention,
            )
            phases.mark("reuse lookup")
            if existing is not None:
                return TriggerOutcome(self.cached(existing.id) or existing, reused=True)
            queued = self._queued()
            phases.mark("queue count")
            if queued >= self.queue_max:
                raise QueueFull(queued, self.queue_max, self._retry_after_seconds())
            job = JobRecord(
                id=new_report_id(),
                status="queued",
                interpolation=interpolation,
                as_of_requested=as_of,
                data_version=version,
                created_at=now,
                options=options,
                lease_owner=self.owner,
                lease_expires_at=now + self._lease,
            )
            self._memory.hold(job)  # before the insert: a heartbeat between them keeps it
            try:
                self.store.insert_job(job)
            except BaseException:
                self._memory.drop(job.id)
                raise
            phases.mark("job insert")
            self._pool.submit(self._run, job)
        return TriggerOutcome(job, reused=False)

    def recover(self) -> list[JobRecord]:
        """Take over the jobs a stopped server left queued or running; call once at
        start-up, before serving. Returns the jobs taken.

        Jobs nobody holds, or whose lease has expired, are claimed; so are, at once,
        those of servers that ran on this host and are gone. Others stay with their
        holder (a live server). A job cut off while running :data:`MAX_ATTEMPTS` times
        is failed with that reason instead of run again (it may be what brought the
        server down).
        """
        owners = {job.lease_owner for job in self.store.unfinished_jobs() if job.lease_owner}
        for owner in sorted(owners):
            if dead_here(owner):
                released = self.store.release_leases(owner)
                log.warning("taking over %d report job(s) of %s, which is gone", released, owner)
        taken: list[JobRecord] = []
        while (room := self.queue_max - self._queued()) > 0 and (
            batch := self._claim(min(room, _CLAIM_BATCH))
        ):
            taken.extend(batch)
        return taken + self._fail_excess()

    def _fail_excess(self) -> list[JobRecord]:
        """At start-up, fail the takeable jobs beyond the queue's bound (run, they would
        delay every new report by all of them), saying why."""
        excess: list[JobRecord] = []
        now = self._clock()
        while batch := self.store.claim_jobs(
            self.owner, now=now, lease_until=now + self._lease, limit=_EXCESS_BATCH
        ):
            excess.extend(batch)
        if excess:
            error = (
                f"not run: {len(excess) + self.queue_max} or more report jobs were left "
                f"unfinished when the server started, more than it queues "
                f"(STOREMON_REPORT_QUEUE_MAX={self.queue_max}); trigger the report again"
            )
            failed = self.store.fail_jobs(
                [job.id for job in excess], finished_at=now, error=error, owner=self.owner
            )
            log.error("%d report job(s) left unfinished were failed: %s", failed, error)
        return excess

    def _queued(self) -> int:
        """Jobs this server has queued and not started."""
        return sum(job.status == "queued" for job in self._memory.held())

    def _retry_after_seconds(self) -> int:
        """About when a queued job will have started (one ends on some worker)."""
        estimate = math.ceil(self._seconds_per_job / self.workers)
        return min(max(estimate, 1), _MAX_RETRY_AFTER_SECONDS)

    def _claim(self, limit: int) -> list[JobRecord]:
        """Claim up to ``limit`` jobs whose lease expired, and queue (or fail) them."""
        with self._leases_lock:  # held in memory before the heartbeat looks again
            now = self._clock()
            claimed = self.store.claim_jobs(
                self.owner, now=now, lease_until=now + self._lease, limit=limit
            )
            for job in claimed:
                self._memory.hold(replace(job, status="queued", started_at=None))
        for job in claimed:
            if job.status == "running" and job.attempts >= MAX_ATTEMPTS:
                error = (
                    f"the server stopped while computing this report {job.attempts} times; "
                    "it is not retried again: trigger a new report"
                )
                log.error("report %s failed: %s", job.id, error)
                if self.store.mark_failed(
                    job.id, finished_at=self._clock(), error=error, owner=self.owner
                ):
                    failed = self.store.get_job(job.id)
                    if failed is not None:
                        self._memory.finished(failed)
                self._memory.drop(job.id)
                continue
            log.warning(
                "taking over report %s, left %s by a server that stopped", job.id, job.status
            )
            self._pool.submit(self._run, job)
        return claimed

    # -- leases ------------------------------------------------------------------------
    def _beat(self) -> None:
        while not self._stopping.wait(self._lease.total_seconds() / 3):
            try:
                self.maintain()
            except Exception:
                log.exception("report leases: the heartbeat failed")

    def maintain(self) -> None:
        """Renew this server's leases, let go of jobs another server took over, and
        claim jobs whose lease expired. The heartbeat thread calls it; tests may too."""
        with self._leases_lock:
            now = self._clock()
            until = now + self._lease
            before = {job.id for job in self._memory.held()}
            try:
                held = self.store.renew_leases(self.owner, lease_until=until)
            except StoreError as error:
                log.warning("report leases not renewed (polls read the database): %s", error)
                return
            self._memory.trusted_until = now + self._lease / 2
            tracked = {job.id for job in self._memory.held()}
            for job_id in before & tracked - held:
                log.warning("report %s was taken over by another server", job_id)
                self._memory.drop(job_id)
            stray = held - tracked  # held in the database, but not run here any more
            if stray:
                self.store.release_leases(self.owner, stray)
        if not self._closed and (room := self.queue_max - self._queued()) > 0:
            self._claim(min(room, _CLAIM_BATCH))
        self._purge(now)

    def _purge(self, now: datetime) -> None:
        """Remove the CSVs past their retention (at most once a minute)."""
        if self.retention is None:
            return
        if self._purged_at is not None and now - self._purged_at < _PURGE_EVERY:
            return
        self._purged_at = now
        expired = self.store.expire_results(finished_before=now - self.retention)
        for job_id in expired:
            self._memory.forget(job_id)
        if expired:
            log.info("removed %d report result(s) past their retention", len(expired))

    # -- reading -----------------------------------------------------------------------
    def cached(self, job_id: str) -> JobRecord | None:
        """The job from memory only (never blocks on the database), or None: a finished
        job, or one this server runs while it is sure to hold its lease."""
        return self._memory.job(job_id, self._clock())

    def get(self, job_id: str) -> JobRecord:
        """The job, from memory or the database. Raises ReportNotFound."""
        job = self.cached(job_id)
        if job is not None:
            return job
        if not job_id.isprintable():  # no issued id has control characters (PostgreSQL refuses NUL)
            raise ReportNotFound(job_id)
        job = self.store.get_job(job_id)
        if job is None:
            raise ReportNotFound(job_id)
        if job.status in ("complete", "failed"):
            self._memory.finished(job)
        return job

    def cached_result(self, job_id: str) -> bytes | None:
        """The CSV of a complete job from memory only, or None (also when expired)."""
        job = self.cached(job_id)
        if job is None or self._expired(job):
            return None
        return self._memory.result(job_id)

    def result(self, job_id: str) -> bytes | None:
        """The CSV of a complete job (memory, then database), or None if not complete.
        Raises ReportExpired when it finished longer ago than the retention (or its CSV
        was removed for that reason)."""
        try:
            job = self.get(job_id)
        except ReportNotFound:
            return None
        if job.status != "complete":
            return None
        if self._expired(job):
            raise ReportExpired(job.id, _finished(job), self._retention())
        csv = self._memory.result(job_id)
        if csv is None:
            csv = self.store.job_result(job_id)
            if csv is None:  # complete without its CSV: removed past its retention
                raise ReportExpired(job.id, _finished(job), self._retention())
            self._memory.remember_result(job_id, csv)
        return csv

    def _expired(self, job: JobRecord) -> bool:
        return (
            self.retention is not None
            and job.status == "complete"
            and job.finished_at is not None
            and job.finished_at + self.retention < self._clock()
        )

    def _retention(self) -> timedelta:
        return self.retention if self.retention is not None else timedelta(0)

    def list(self, *, limit: int = 50) -> list[JobRecord]:
        """The newest jobs, newest first (from the database)."""
        return self.store.list_jobs(limit=limit)

    def in_progress(self) -> dict[str, int]:
        """How many jobs of this process are queued and running now."""
        counts: dict[str, int] = {"queued": 0, "running": 0}
        for job in self._memory.held():
            counts[job.status] += 1
        return counts

    def close(self) -> None:
        """Stop: wait for running jobs; queued ones stay queued in the database, their
        leases given up so that any server (or the next start) takes them at once.
        Idempotent."""
        with self._trigger_lock:
            if self._closed:
                return
            self._closed = True
        self._stopping.set()
        self._heartbeat.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._compute.close()
        try:
            self.store.release_leases(self.owner)
        except StoreError as error:
            log.warning("report leases not given up (they expire by themselves): %s", error)
        self._memory.clear()

    # -- running -----------------------------------------------------------------------
    def _run(self, job: JobRecord) -> None:
        started = time.perf_counter()
        try:
            final = self._execute(job)
        except Exception as error:  # the database failed while recording the outcome
            log.exception("report %s: could not record its outcome", job.id)
            final = self._record_lost(job, f"could not store the report: {_shown(error)}")
        self._memory.drop(job.id)
        if final is None:
            return
        seconds = time.perf_counter() - started
        self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * seconds
        log.info("report %s %s in %.3f s (%s rows)", job.id, final.status, seconds, final.row_count)
        for _, message in stored_warnings(final.summary):
            log.warning("report %s: %s", job.id, message)
        self._memory.finished(final)
        if self._on_finished is not None:
            try:
                self._on_finished(final)
            except Exception:
                log.exception("report %s: on_finished hook failed", job.id)

    def _execute(self, job: JobRecord) -> JobRecord | None:
        """Run the job; its final record, or None when another server holds it now."""
        started_at = self._clock()
        lease_until = started_at + self._lease
        if not self.store.mark_running(
            job.id, started_at=started_at, owner=self.owner, lease_until=lease_until
        ):
            log.info("report %s is held by another server or finished: not run here", job.id)
            return None
        running = replace(
            job,
            status="running",
            started_at=started_at,
            attempts=job.attempts + 1,
            lease_owner=self.owner,
            lease_expires_at=lease_until,
        )
        self._memory.hold(running)
        try:
            computed = self._compute(self.store, running)
        except StoreError as error:  # the job's error is shown to clients: no URL in it
            log.error("report %s failed: %s", job.id, error)
            return self._fail(running, _shown(error))
        except StoremonError as error:
            return self._fail(running, str(error))
        except Exception as error:
            log.exception("report %s failed", job.id)
            return self._fail(running, f"internal error: {type(error).__name__}: {error}")
        finished_at = self._clock()
        summary = json.dumps(computed.summary, sort_keys=True, default=str)
        if not self.store.mark_complete(
            job.id,
            finished_at=finished_at,
            as_of_used=computed.as_of_used,
            row_count=computed.row_count,
            csv=computed.csv,
            summary=summary,
            owner=self.owner,
        ):
            log.warning("report %s: computed, but another server holds it now", job.id)
            return None
        self._memory.remember_result(job.id, computed.csv)
        return replace(
            running,
            status="complete",
            finished_at=finished_at,
            as_of_used=computed.as_of_used,
            row_count=computed.row_count,
            summary=summary,
            lease_expires_at=None,
        )

    def _record_lost(self, job: JobRecord, error: str) -> JobRecord | None:
        """Mark the job failed; if even that cannot be stored, answer nothing from
        memory: the database still says running, and the heartbeat gives the job up
        (it is not run here any more), so it is run again."""
        try:
            return self._fail(job, error)
        except Exception:
            log.exception("report %s: could not record its failure either", job.id)
            return None

    def _fail(self, running: JobRecord, error: str) -> JobRecord | None:
        finished_at = self._clock()
        if not self.store.mark_failed(
            running.id, finished_at=finished_at, error=error, owner=self.owner
        ):
            log.warning("report %s: failed, but another server holds it now", running.id)
            return None
        return replace(
            running, status="failed", finished_at=finished_at, error=error, lease_expires_at=None
        )


def _finished(job: JobRecord) -> datetime:
    return job.finished_at if job.finished_at is not None else job.created_at


def _shown(error: BaseException) -> str:
    """An error as a job keeps it (polls show it): a StoreError by its public text where
    the store wrote one (the stores do for every driver error: no URL, user or host);
    storemon's own StoreErrors name nothing of the database and are kept whole."""
    if isinstance(error, StoreError) and error.public is not None:
        return error.public
    return str(error)
