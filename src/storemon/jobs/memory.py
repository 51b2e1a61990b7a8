"""What a report job service keeps in memory: its own unfinished jobs, and finished ones.

A poll for a report is answered from here without a database round trip when the
answer cannot be out of date:

- finished jobs (complete or failed) never change in the database, so their records
  and CSVs are kept in small LRUs;
- this process's queued and running jobs are its own only while it holds their
  leases: they are answered from memory only until :attr:`JobMemory.trusted_until`
  (set when the leases were last renewed), after that from the database, which may
  say another server took a job over, or finished it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Final

from storemon.store.base import JobRecord

__all__ = ["FINISHED_RECORDS_KEPT", "JobMemory"]

FINISHED_RECORDS_KEPT: Final = 4096


class JobMemory:
    """Thread-safe maps of job records and results; ``cache_bytes`` bounds the CSVs."""

    def __init__(self, cache_bytes: int, trusted_until: datetime) -> None:
        self._cache_bytes = cache_bytes
        self._lock = threading.Lock()
        self._active: dict[str, JobRecord] = {}
        self._finished: OrderedDict[str, JobRecord] = OrderedDict()
        self._results: OrderedDict[str, bytes] = OrderedDict()
        self._results_size = 0
        #: Until when this process's own unfinished jobs may be answered from memory.
        self.trusted_until = trusted_until

    # -- this process's unfinished jobs ------------------------------------------------
    def hold(self, job: JobRecord) -> None:
        """Track (or update) a job this process runs."""
        with self._lock:
            self._active[job.id] = job

    def drop(self, job_id: str) -> None:
        """Stop tracking a job (finished here, or taken over by another server)."""
        with self._lock:
            self._active.pop(job_id, None)

    def held(self) -> list[JobRecord]:
        """The jobs this process runs now."""
        with self._lock:
            return list(self._active.values())

    def clear(self) -> None:
        with self._lock:
            self._active.clear()

    # -- look-ups ----------------------------------------------------------------------
    def job(self, job_id: str, now: datetime) -> JobRecord | None:
        """The job if memory can answer for it at ``now``, else None."""
        with self._lock:
            job = self._active.get(job_id)
            if job is not None:
                return job if now < self.trusted_until else None
            job = self._finished.get(job_id)
            if job is not None:
                self._finished.move_to_end(job_id)
            return job

    def result(self, job_id: str) -> bytes | None:
        with self._lock:
            csv = self._results.get(job_id)
            if csv is not None:
                self._results.move_to_end(job_id)
            return csv

    # -- finished jobs -----------------------------------------------------------------
    def finished(self, job: JobRecord) -> None:
        """Remember a finished job (it never changes again)."""
        with self._lock:
            self._finished[job.id] = job
            self._finished.move_to_end(job.id)
            while len(self._finished) > FINISHED_RECORDS_KEPT:
                self._finished.popitem(last=False)

    def remember_result(self, job_id: str, csv: bytes) -> None:
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

    def forget(self, job_id: str) -> None:
        """Forget a finished job's record and CSV (its result expired)."""
        with self._lock:
            self._finished.pop(job_id, None)
            csv = self._results.pop(job_id, None)
            if csv is not None:
                self._results_size -= len(csv)
