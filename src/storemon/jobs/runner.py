"""Report jobs: trigger (reusing identical work), run on a bounded pool, serve results, recover.

A job's state lives in the database (:class:`storemon.store.Store`), so a finished
report outlives the process and a job interrupted by a crash is run again at the
next start. Jobs run on a pool of ``workers`` threads, never on the event loop.
The engine runs in the job thread (:func:`compute_with_engine`) or, as under
`storemon serve`, in a worker process (:class:`ProcessCompute`) so that its CPU
work does not compete with the server's event loop for the GIL.

Finished jobs never change, so their records and CSVs are also kept in a small
in-memory LRU; jobs queued or running in this process are tracked in memory too.
Together they let a poll for a report be answered without a database round trip.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

import pyarrow as pa
import pyarrow.ipc

from storemon.engine import compute_report, report_csv
from storemon.errors import ReportNotFound, ReportWorkerError, StoremonError
from storemon.schema import Interpolation
from storemon.store.base import JobRecord, Store

__all__ = [
    "ComputedReport",
    "ProcessCompute",
    "ReportJobs",
    "ReportWorkerError",
    "TriggerOutcome",
    "compute_with_engine",
    "new_report_id",
    "utc_now",
]

log = logging.getLogger(__name__)

#: Bytes of finished CSVs kept in memory (the benchmark report is about 0.7 MB).
DEFAULT_CACHE_BYTES: Final = 64 * 1024 * 1024
_FINISHED_RECORDS_KEPT: Final = 4096
#: A job cut off this many times while running (the server died under it) is not run
#: again at start-up but failed: it may be what kills the server, and must not loop.
MAX_ATTEMPTS: Final = 2


@dataclass(frozen=True)
class ComputedReport:
    """What a job stores when it completes: the CSV, and a JSON-able ``summary``
    (warnings, counts) kept with the job."""

    csv: bytes
    row_count: int
    as_of_used: datetime | None
    summary: dict[str, object] = field(default_factory=dict)


#: Computes one report from the store: (store, as_of requested, interpolation) -> result.
Compute = Callable[[Store, datetime | None, Interpolation], ComputedReport]


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


def _compute_tables(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    as_of: datetime | None,
    interpolation: Interpolation,
) -> ComputedReport:
    """Run the engine on report inputs (in this process or a worker process)."""
    report = compute_report(polls, hours, timezones, as_of=as_of, interpolation=interpolation)
    return ComputedReport(
        csv=report_csv(report.table), row_count=report.table.num_rows, as_of_used=report.as_of
    )


def compute_with_engine(
    store: Store, as_of: datetime | None, interpolation: Interpolation
) -> ComputedReport:
    """Read the report inputs in bulk and run the engine on them, in this thread."""
    inputs = store.report_inputs(as_of)
    return _compute_tables(
        inputs.polls,
        inputs.hours,
        inputs.timezones,
        inputs.as_of if as_of is None else as_of,
        interpolation,
    )


_SHM: Final = "/dev/shm"  # noqa: S108  (a private temporary directory is made inside)


def _handover_dir(size_bytes: int) -> str | None:
    """Where to hand inputs to a worker: memory-backed /dev/shm when it has room
    (containers often give it only 64 MB), else the default temporary directory."""
    try:
        stats = os.statvfs(_SHM)
    except OSError:
        return None
    return _SHM if stats.f_bavail * stats.f_frsize > 2 * size_bytes else None


_HANDOVER_PREFIX: Final = "storemon-report-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_stale_handovers() -> None:
    """Remove hand-over folders of servers that died mid-report (``kill -9``, OOM):
    their names carry the server's pid; those of live processes are left alone."""
    for parent in {_SHM, tempfile.gettempdir()}:
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            pid_text = name[len(_HANDOVER_PREFIX) :].partition("-")[0]
            stale = (
                name.startswith(_HANDOVER_PREFIX)
                and pid_text.isdigit()
                and not _pid_alive(int(pid_text))
            )
            if stale:
                log.warning("removing %s, left by a server that died", name)
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


_TABLES: Final = ("polls", "hours", "timezones")
_WORKER_NICENESS: Final = 10


def _write_table(table: pa.Table, path: str) -> None:
    """Arrow IPC file: written by Arrow's C++ code, without holding the GIL for long
    (pickling 50 MB of tables would stall the event loop for tens of milliseconds)."""
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_table(path: str) -> pa.Table:
    with pa.memory_map(path) as source:
        return pa.ipc.open_file(source).read_all()


def _compute_files(
    folder: str, as_of: datetime | None, interpolation: Interpolation
) -> ComputedReport:
    """Worker process side: read the inputs written by :class:`ProcessCompute`, compute."""
    polls, hours, timezones = (_read_table(os.path.join(folder, name)) for name in _TABLES)
    return _compute_tables(polls, hours, timezones, as_of, interpolation)


_PARENT_CHECK_SECONDS: Final = 0.5


def _exit_when_orphaned(parent_pid: int) -> None:
    """Worker side: end this process once the server is gone.

    A worker waits for work on a pipe it holds both ends of, so it never sees
    the server die; without this, a server killed with SIGKILL leaves its
    workers (and their memory) running forever.
    """
    while os.getppid() == parent_pid:
        time.sleep(_PARENT_CHECK_SECONDS)
    os._exit(1)


def _worker_init(parent_pid: int) -> None:
    # Ctrl-C reaches the whole process group: let the server decide, not the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Computing is background work: when the CPUs are busy, answering requests comes first.
    with contextlib.suppress(OSError):
        os.nice(_WORKER_NICENESS)
    threading.Thread(
        target=_exit_when_orphaned, args=(parent_pid,), name="storemon-orphan-check", daemon=True
    ).start()


def _warm() -> None:
    """Nothing: importing this module in the worker loads the engine."""


class ProcessCompute:
    """Compute reports in worker processes (``spawn``), at most ``workers`` at once.

    The engine's CPU work then runs beside the server instead of competing with
    its event loop for the GIL, so polls stay fast while a report is computed.
    Inputs are read here — the store belongs to this process (a DuckDB file
    admits one process) — and handed to the worker as Arrow IPC files (about
    50 MB for the benchmark week, written in some 30 ms and memory-mapped by
    the worker). Workers run niced: under load, answering requests comes first.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_init,
                    initargs=(os.getpid(),),
                )
            return self._pool

    def warm_up(self) -> None:
        """Start a worker now rather than on the first report (takes about a second),
        and remove report inputs that a killed server left behind."""
        _remove_stale_handovers()
        self._executor().submit(_warm)

    def __call__(
        self, store: Store, as_of: datetime | None, interpolation: Interpolation
    ) -> ComputedReport:
        inputs = store.report_inputs(as_of)
        effective_as_of = inputs.as_of if as_of is None else as_of
        size = sum(getattr(inputs, name).nbytes for name in _TABLES)
        with tempfile.TemporaryDirectory(
            prefix=f"{_HANDOVER_PREFIX}{os.getpid()}-", dir=_handover_dir(size)
        ) as folder:
            for name in _TABLES:
                _write_table(getattr(inputs, name), os.path.join(folder, name))
            pool = self._executor()
            try:
                future = pool.submit(_compute_files, folder, effective_as_of, interpolation)
                return future.result()
            except BrokenProcessPool:
                with self._lock:
                    if self._pool is pool:
                        self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                raise ReportWorkerError(
                    "the report worker process died (out of memory?); trigger the report again"
                ) from None

    def close(self) -> None:
        """Stop the worker processes. Idempotent."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class ReportJobs:
    """The report job service used by the HTTP API. Thread-safe.

    ``on_finished`` is called (from a worker thread) with the final record of every
    job this process finishes, e.g. to update metrics.
    """

    def __init__(
        self,
        store: Store,
        *,
        workers: int = 2,
        compute: Compute = compute_with_engine,
        on_finished: Callable[[JobRecord], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.store = store
        self.workers = workers
        self._compute = compute
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
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(self._compute, ProcessCompute):
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
        log.info("report %s %s in %.3f s", job.id, final.status, time.perf_counter() - started)
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
        running = replace(job, status="running", started_at=started_at)
        with self._lock:
            self._active[job.id] = running
        try:
            computed = self._compute(self.store, job.as_of_requested, job.interpolation)
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
