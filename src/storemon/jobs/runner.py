"""Report jobs: trigger (reusing identical work), run on a bounded pool, serve results, recover.

A job's state lives in the database (:class:`storemon.store.JobStore`), so a finished
report outlives the process and a job interrupted by a crash is run again at the
next start. Jobs run on a pool of ``workers`` threads, never on the event loop; each
is computed by a :class:`storemon.jobs.compute.Compute` strategy (in the job thread,
or, as under `storemon serve`, in a worker process).

Finished jobs never change, so their records and CSVs are also kept in a small
in-memory LRU; jobs queued or running in this process are tracked in memory too.
Together they let a poll for a report be answered without a database round trip.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

from storemon.errors import ReportNotFound, StoremonError
from storemon.jobs.compute import Compute, InThreadCompute
from storemon.jobs.summary import stored_warnings
from storemon.schema import Interpolation
from storemon.store.base import JobRecord, Store

__all__ = ["ReportJobs", "TriggerOutcome", "new_report_id", "utc_now"]

log = logging.getLogger(__name__)

#: Bytes of finished CSVs kept in memory (the benchmark report is about 0.7 MB).
DEFAULT_CACHE_BYTES: Final = 64 * 1024 * 1024
_FINISHED_RECORDS_KEPT: Final = 4096
#: A job cut off this many times while running (the server died under it) is not run
#: again at start-up but failed: it may be what kills the server, and must not loop.
MAX_ATTEMPTS: Final = 2


@dataclass(frozen=True)
class TriggerOutcome:
    """The job a trigger returned, and whether it was an existing identical one."""

    job: JobRecord
    reused: bool


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
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.store = store
        self.workers = workers
        self._compute: Compute = InThreadCompute() if compute is None else compute
        self._on_finished = on_finished
        self._clock = clock
        self._cache_bytes = cache_bytes
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="storemon-report")
        self._trigger_lock = threading.Lock()  # makes "find identical job, else insert" atomic
        self._lock = threading.Lock()  # guards the in-memory maps below
        self._active: dict[str, JobRecord] = {}
        self._finished: OrderedDict[str, JobRecord] = OrderedDict()
        self._results: OrderedDict[str, bytes] = OrderedDict()
        self._results_size = 0
        self._closed = False

    # -- triggering --------------------------------------------------------------------
    def trigger(
        self, *, as_of: datetime | None, interpolation: Interpolation, options: str = "{}"
    ) -> TriggerOutcome:
        """Start a report, or return the queued/running/complete job with the same
        parameters (``options`` compared as strings) on the same data (same
        ``data_version``)."""
        with self._trigger_lock:
            if self._closed:
                raise RuntimeError("the report job service is shut down")
            version = self.store.data_version()
            existing = self.store.find_reusable_job(
                as_of_requested=as_of,
                interpolation=interpolation,
                data_version=version,
                options=options,
            )
            if existing is not None:
                return TriggerOutcome(self.cached(existing.id) or existing, reused=True)
            job = JobRecord(
                id=new_report_id(),
                status="queued",
                interpolation=interpolation,
                as_of_requested=as_of,
                data_version=version,
                created_at=self._clock(),
                options=options,
            )
            self.store.insert_job(job)
            self._submit(job)
        return TriggerOutcome(job, reused=False)

    def recover(self) -> list[JobRecord]:
        """Queue again every job a previous process left queued or running.

        Call once at start-up, before serving. A job that fails again is marked
        failed with its error, so no job stays Running forever; a job that was cut
        off while running :data:`MAX_ATTEMPTS` times is failed with that reason
        instead of being run again (it may be what brought the server down).
        """
        jobs = self.store.unfinished_jobs()
        for job in jobs:
            if job.status == "running" and job.attempts >= MAX_ATTEMPTS:
                error = (
                    f"the server stopped while computing this report {job.attempts} times; "
                    "it is not retried again: trigger a new report"
                )
                log.error("report %s failed: %s", job.id, error)
                self.store.mark_failed(job.id, finished_at=self._clock(), error=error)
                continue
            log.warning("re-running report %s left %s by a previous process", job.id, job.status)
            self._submit(replace(job, status="queued", started_at=None))
        return jobs

    # -- reading -----------------------------------------------------------------------
    def cached(self, job_id: str) -> JobRecord | None:
        """The job from memory only (never blocks on the database), or None."""
        with self._lock:
            job = self._active.get(job_id)
            if job is None:
                job = self._finished.get(job_id)
                if job is not None:
                    self._finished.move_to_end(job_id)
            return job

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
            self._remember_finished(job)
        return job

    def cached_result(self, job_id: str) -> bytes | None:
        """The CSV of a complete job from memory only, or None."""
        with self._lock:
            csv = self._results.get(job_id)
            if csv is not None:
                self._results.move_to_end(job_id)
            return csv

    def result(self, job_id: str) -> bytes | None:
        """The CSV of a complete job (memory, then database), or None if not complete."""
        csv = self.cached_result(job_id)
        if csv is None:
            csv = self.store.job_result(job_id)
            if csv is not None:
                self._remember_result(job_id, csv)
        return csv

    def list(self, *, limit: int = 50) -> list[JobRecord]:
        """The newest jobs, newest first (from the database)."""
        return self.store.list_jobs(limit=limit)

    def in_progress(self) -> dict[str, int]:
        """How many jobs of this process are queued and running now."""
        counts: dict[str, int] = {"queued": 0, "running": 0}
        with self._lock:
            for job in self._active.values():
                counts[job.status] += 1
        return counts

    def close(self) -> None:
        """Stop: wait for running jobs; queued ones stay queued in the database and are
        re-run by :meth:`recover` at the next start. Idempotent."""
        with self._trigger_lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._compute.close()
        with self._lock:
            self._active.clear()

    # -- running -----------------------------------------------------------------------
    def _submit(self, job: JobRecord) -> None:
        with self._lock:
            self._active[job.id] = job
        self._pool.submit(self._run, job)

    def _run(self, job: JobRecord) -> None:
        started = time.perf_counter()
        try:
            final = self._execute(job)
        except Exception as error:  # the database failed while recording the outcome
            log.exception("report %s: could not record its outcome", job.id)
            final = self._record_lost(job, f"could not store the report: {error}")
        log.info(
            "report %s %s in %.3f s (%s rows)",
            job.id,
            final.status,
            time.perf_counter() - started,
            final.row_count,
        )
        for _, message in stored_warnings(final.summary):
            log.warning("report %s: %s", job.id, message)
        self._remember_finished(final)
        with self._lock:
            self._active.pop(job.id, None)
        if self._on_finished is not None:
            try:
                self._on_finished(final)
            except Exception:
                log.exception("report %s: on_finished hook failed", job.id)

    def _execute(self, job: JobRecord) -> JobRecord:
        started_at = self._clock()
        self.store.mark_running(job.id, started_at=started_at)
        running = replace(job, status="running", started_at=started_at, attempts=job.attempts + 1)
        with self._lock:
            self._active[job.id] = running
        try:
            computed = self._compute(self.store, running)
        except StoremonError as error:
            return self._fail(running, str(error))
        except Exception as error:
            log.exception("report %s failed", job.id)
            return self._fail(running, f"internal error: {type(error).__name__}: {error}")
        finished_at = self._clock()
        summary = json.dumps(computed.summary, sort_keys=True, default=str)
        self.store.mark_complete(
            job.id,
            finished_at=finished_at,
            as_of_used=computed.as_of_used,
            row_count=computed.row_count,
            csv=computed.csv,
            summary=summary,
        )
        self._remember_result(job.id, computed.csv)
        return replace(
            running,
            status="complete",
            finished_at=finished_at,
            as_of_used=computed.as_of_used,
            row_count=computed.row_count,
            summary=summary,
        )

    def _record_lost(self, job: JobRecord, error: str) -> JobRecord:
        """Mark the job failed; if even that cannot be stored, this process still
        answers Failed (the database says running until the next start re-runs it)."""
        finished_at = self._clock()
        with contextlib.suppress(Exception):
            self.store.mark_failed(job.id, finished_at=finished_at, error=error)
        return replace(job, status="failed", finished_at=finished_at, error=error)

    def _fail(self, running: JobRecord, error: str) -> JobRecord:
        finished_at = self._clock()
        self.store.mark_failed(running.id, finished_at=finished_at, error=error)
        return replace(running, status="failed", finished_at=finished_at, error=error)

    # -- memory ------------------------------------------------------------------------
    def _remember_finished(self, job: JobRecord) -> None:
        with self._lock:
            self._finished[job.id] = job
            self._finished.move_to_end(job.id)
            while len(self._finished) > _FINISHED_RECORDS_KEPT:
                self._finished.popitem(last=False)

    def _remember_result(self, job_id: str, csv: bytes) -> None:
        if len(csv) > self._cache_bytes:
            return
        with self._lock:
            if job_id in self._results:
                return
            self._results[job_id] = csv
            self._results_size += len(csv)
            while self._results_size > self._cache_bytes:
                _, dropped = self._results.popitem(last=False)
                self._results_size -= len(dropped)
