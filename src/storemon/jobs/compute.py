"""How a report job is computed: one small protocol, interchangeable strategies.

A :class:`Compute` turns a job into its result, reading the inputs from the data
store: ``compute(store, job) -> ComputedReport``, and ``close()`` when the service
stops. :class:`InThreadCompute` runs the engine in the calling (job) thread;
:class:`ProcessCompute` reads the inputs here and runs the engine in a worker
process, so that its CPU work does not compete with the server's event loop for
the GIL. Another strategy (a Dask cluster) implements the same two methods.

Every strategy calls the engine through :func:`compute_tables` only, so what a job
asks of the engine is decided in one place.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

import pyarrow as pa
import pyarrow.ipc

from storemon.errors import ReportWorkerError
from storemon.jobs.outputs import JobSpec, compute_output, inputs_for
from storemon.pids import pid_alive
from storemon.store.base import DataStore, JobRecord, ReportInputs, SettingsFallbacks

__all__ = [
    "Compute",
    "ComputedReport",
    "InThreadCompute",
    "ProcessCompute",
    "compute_tables",
    "read_inputs",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComputedReport:
    """What a job stores when it completes: the CSV, and a JSON-able ``summary``
    (warnings, counts) kept with the job."""

    csv: bytes
    row_count: int
    as_of_used: datetime | None
    summary: dict[str, object] = field(default_factory=dict)


class Compute(Protocol):
    """A way to compute report jobs. Called from several job threads at once."""

    def __call__(self, store: DataStore, job: JobRecord) -> ComputedReport:
        """The result of ``job``, with inputs read from ``store``."""
        ...

    def close(self) -> None:
        """Release what the strategy holds (worker processes, a cluster). Idempotent."""
        ...


def compute_tables(
    polls: pa.Table,
    hours: pa.Table,
    timezones: pa.Table,
    job: JobRecord,
    fallbacks: SettingsFallbacks | None = None,
) -> ComputedReport:
    """Run the engine on a job's inputs (in this process or a worker process).

    ``job.as_of_requested`` None means the latest poll of ``polls``, which is the
    latest stored (the inputs hold it); ``job.options`` says what to compute
    (:class:`~storemon.jobs.outputs.JobSpec`: the report with its windows and Part 2
    choices, the outage list or the profile).
    """
    done = compute_output(
        polls,
        hours,
        timezones,
        spec=JobSpec.from_json(job.options),
        as_of=job.as_of_requested,
        interpolation=job.interpolation,
        fallbacks=fallbacks,
    )
    return ComputedReport(
        csv=done.csv, row_count=done.row_count, as_of_used=done.as_of_used, summary=done.summary
    )


def read_inputs(store: DataStore, job: JobRecord) -> ReportInputs:
    """The inputs of ``job``: polls as far back as its output looks."""
    return inputs_for(store, JobSpec.from_json(job.options), job.as_of_requested)


def read_fallbacks(store: DataStore, job: JobRecord) -> SettingsFallbacks | None:
    """For a report: the stores on default settings because all their rows were rejected
    (its summary says so); None for the other outputs."""
    if JobSpec.from_json(job.options).output != "report":
        return None
    return store.settings_fallbacks()


class InThreadCompute:
    """Read the inputs in bulk and run the engine on them, in the calling thread."""

    def __call__(self, store: DataStore, job: JobRecord) -> ComputedReport:
        inputs = read_inputs(store, job)
        fallbacks = read_fallbacks(store, job)
        return compute_tables(inputs.polls, inputs.hours, inputs.timezones, job, fallbacks)

    def close(self) -> None:
        """Nothing to release."""


_SHM: Final = "/dev/shm"  # noqa: S108  (a private temporary directory is made inside)
_HANDOVER_PREFIX: Final = "storemon-report-"
_TABLES: Final = ("polls", "hours", "timezones")
_WORKER_NICENESS: Final = 10
_PARENT_CHECK_SECONDS: Final = 0.5


def _handover_dir(size_bytes: int) -> str | None:
    """Where to hand inputs to a worker: memory-backed /dev/shm when it has room
    (containers often give it only 64 MB), else the default temporary directory."""
    try:
        stats = os.statvfs(_SHM)
    except OSError:
        return None
    return _SHM if stats.f_bavail * stats.f_frsize > 2 * size_bytes else None


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
                and not pid_alive(int(pid_text))
            )
            if stale:
                log.warning("removing %s, left by a server that died", name)
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _write_table(table: pa.Table, path: str) -> None:
    """Arrow IPC file: written by Arrow's C++ code, without holding the GIL for long
    (pickling 50 MB of tables would stall the event loop for tens of milliseconds)."""
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_table(path: str) -> pa.Table:
    with pa.memory_map(path) as source:
        return pa.ipc.open_file(source).read_all()


def _compute_files(
    folder: str, job: JobRecord, fallbacks: SettingsFallbacks | None
) -> ComputedReport:
    """Worker process side: read the inputs written by :class:`ProcessCompute`, compute."""
    polls, hours, timezones = (_read_table(os.path.join(folder, name)) for name in _TABLES)
    return compute_tables(polls, hours, timezones, job, fallbacks)


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

    def __call__(self, store: DataStore, job: JobRecord) -> ComputedReport:
        inputs = read_inputs(store, job)
        fallbacks = read_fallbacks(store, job)
        size = sum(getattr(inputs, name).nbytes for name in _TABLES)
        with tempfile.TemporaryDirectory(
            prefix=f"{_HANDOVER_PREFIX}{os.getpid()}-", dir=_handover_dir(size)
        ) as folder:
            for name in _TABLES:
                _write_table(getattr(inputs, name), os.path.join(folder, name))
            pool = self._executor()
            try:
                return pool.submit(_compute_files, folder, job, fallbacks).result()
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
