"""The Dask strategy of the compute seam: the partitions of one output on a cluster.

:class:`DaskCompute` implements :class:`storemon.jobs.compute.Compute` (and
:meth:`DaskCompute.output_of_database` for the command line). as_of is resolved once
and the stores are cut into ranges (:func:`storemon.jobs.partitioned.plan_partitions`);
each range is one task, and **each worker reads its own range's inputs**:

- PostgreSQL, and a DuckDB file that no process writes meanwhile (``storemon
  report|outages|profile --cluster``; DuckDB admits any number of processes that only
  read a file): the client sends the database URL, never data. One task plans (as_of,
  the ranges, the fleet's fallbacks), then each range's task runs the range-bounded
  read itself. A worker keeps its PostgreSQL store open between tasks (one per worker
  process); it opens a DuckDB file read-only for each task and closes it after, so a
  long-lived worker does not keep the file from its next writer. The client never
  opens the database. The tasks read in snapshots of their own, so the plan carries
  the data version it was made at and each range's task checks it after its read: an
  ingest or prune between the tasks makes the output planned and computed again
  (:func:`storemon.jobs.partitioned.until_unchanged`) rather than mix data of both.
- DuckDB under ``storemon serve``: the server writes the file, so no other process may
  open it. The server writes a Parquet export of the database
  (:mod:`storemon.store.parquet`, sorted and split by the same ranges) to a directory
  the workers can read, once per data version and partition count, and each task
  reads its part's files.

Only each partition's result (its CSV, or the profile's 168 x 3 integers) comes back;
they are joined in range order (:func:`storemon.jobs.outputs.join_parts`), so the bytes
are the single process's. A worker lost mid-task is survived: the scheduler re-runs its
tasks elsewhere (``distributed.scheduler.allowed-failures``). A task that fails for a
reason in the data returns that reason (it is not retried, the result would be the
same) and the job fails with it; a job that takes longer than ``timeout_seconds`` fails
saying so, its tasks cancelled. This module is imported only when a cluster is used:
``storemon --help`` loads no dask.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster, wait

from storemon.clusters import parse_cluster
from storemon.errors import ComputeError, ConfigError, DataChanged, StoreError, StoremonError
from storemon.jobs.compute import ComputedReport
from storemon.jobs.outputs import ComputedOutput, JobSpec, Part, compute_part, join_parts
from storemon.jobs.partitioned import (
    PartitionPlan,
    check_version,
    fleet_fallbacks,
    join_plan,
    part_of_store,
    partition_ranges,
    plan_partitions,
    until_unchanged,
)
from storemon.schema import Interpolation
from storemon.store import open_store
from storemon.store.base import DataStore, JobRecord, SettingsFallbacks, StoreRange
from storemon.store.parquet import Manifest, export_parquet, parquet_inputs, read_manifest
from storemon.store.urls import parse_url

__all__ = ["DaskCompute"]

log = logging.getLogger(__name__)

# -- worker side ---------------------------------------------------------------------
_STORES: dict[str, DataStore] = {}
_STORES_LOCK = threading.Lock()


@contextmanager
def _worker_store(url: str) -> Iterator[DataStore]:
    """This worker's store for ``url``: PostgreSQL opened once per worker process and
    kept; a DuckDB file opened read-only for the task and closed after it (a long-lived
    worker must not keep the file from its next writer)."""
    if parse_url(url).backend == "duckdb":
        store = open_store(url, create=False, read_only=True)
        try:
            yield store
        finally:
            store.close()
        return
    with _STORES_LOCK:
        if url not in _STORES:
            _STORES[url] = open_store(url, create=False)
        kept = _STORES[url]
    yield kept


@dataclass(frozen=True)
class _Failed:
    """A task's failure, returned rather than raised (an exception's extra fields do not
    survive pickling, and a failure of the data is not worth a retry)."""

    message: str
    public: str | None  # a StoreError's message for remote clients
    kind: str


def _where(index: int, count: int, stores: StoreRange) -> str:
    first = "the first id" if stores.first is None else repr(stores.first)
    stop = "the last" if stores.stop is None else f"before {stores.stop!r}"
    return f"partition {index + 1} of {count} (store ids from {first} to {stop})"


def _failed(where: str, error: Exception) -> _Failed:
    if isinstance(error, DataChanged):
        return _Failed(f"{where}: {error}", f"{where}: {error.public}", "changed")
    if isinstance(error, StoreError):
        return _Failed(f"{where}: {error}", f"{where}: {error.public}", "store")
    if isinstance(error, StoremonError):
        return _Failed(f"{where}: {error}", None, "storemon")
    log.exception("%s failed", where)
    return _Failed(f"{where}: internal error: {type(error).__name__}: {error}", None, "bug")


@dataclass(frozen=True)
class _Planned:
    """What the planning task found: the plan and, for a report, the fleet's fallbacks."""

    plan: PartitionPlan
    fallbacks: SettingsFallbacks | None


def _plan_from_database(
    url: str,
    spec: JobSpec,
    as_of: datetime | None,
    interpolation: Interpolation,
    partitions: int,
) -> _Planned | _Failed:
    """Worker: as_of resolved and the stores cut into ranges, by this worker."""
    try:
        with _worker_store(url) as store:
            plan = plan_partitions(
                store, spec, as_of=as_of, interpolation=interpolation, partitions=partitions
            )
            fallbacks = fleet_fallbacks(store, spec)
        return _Planned(plan, fallbacks)
    except Exception as error:
        return _failed("planning the partitions", error)


def _part_from_database(
    url: str, plan: PartitionPlan, index: int, count: int, stores: StoreRange
) -> Part | _Failed:
    """Worker: one range's part, read by this worker from the database at ``url``."""
    try:
        with _worker_store(url) as store:
            return part_of_store(store, plan, stores)
    except Exception as error:
        return _failed(_where(index, count, stores), error)


def _part_from_parquet(
    folder: str, manifest: Manifest, plan: PartitionPlan, index: int
) -> Part | _Failed:
    """Worker: part ``index`` of the Parquet export in ``folder``."""
    stores = manifest.ranges[index]
    try:
        inputs = parquet_inputs(folder, manifest, index, plan.as_of, plan.spec.lookback)
        return compute_part(
            inputs.polls,
            inputs.hours,
            inputs.timezones,
            spec=plan.spec,
            as_of=plan.as_of,
            interpolation=plan.interpolation,
        )
    except Exception as error:
        return _failed(_where(index, len(manifest.ranges), stores), error)


# -- client side ---------------------------------------------------------------------
def _task(name: str) -> dict[str, Any]:
    """submit()'s options for one task: never cached, a key of its own."""
    return {"pure": False, "key": f"storemon-{name}-{os.urandom(6).hex()}"}


def _absolute(url: str) -> str:
    """``url`` with a relative DuckDB path made absolute (workers may run elsewhere)."""
    parsed = parse_url(url)
    if parsed.backend != "duckdb" or parsed.target == ":memory:":
        return url
    return f"duckdb:///{Path(parsed.target).expanduser().resolve()}"


class DaskCompute:
    """Compute outputs on a Dask cluster, ``partitions`` ranges of stores each (None: two
    per worker thread). The cluster is started (``local``) or connected to (``tcp://``)
    on first use; :meth:`close` stops what was started. ``export_dir``: where DuckDB
    exports go (must be readable by every worker; default: a temporary directory)."""

    def __init__(
        self,
        cluster: str,
        *,
        partitions: int | None = None,
        timeout_seconds: float = 3600.0,
        export_dir: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = parse_cluster(cluster)
        self.partitions = partitions
        self.timeout_seconds = timeout_seconds
        self._clock = clock  # seconds, for the job's deadline
        self._export_root = None if export_dir is None else Path(export_dir)
        self._own_export_root: str | None = None
        self._lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._client: Client | None = None
        self._local: LocalCluster | None = None

    @property
    def client(self) -> Client:
        """The Dask client (the cluster started or connected to on first use)."""
        with self._lock:
            if self._client is None:
                if self.cluster.address is not None:
                    try:
                        self._client = Client(self.cluster.address, timeout="30s")
                    except OSError as error:
                        raise ConfigError(
                            f"cannot reach the Dask scheduler at {self.cluster.address}: "
                            f"{error} (is `dask scheduler` running there?)"
                        ) from None
                else:
                    logging.getLogger("distributed").setLevel(logging.WARNING)
                    self._local = LocalCluster(
                        n_workers=self.cluster.workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.WARNING,
                    )
                    self._client = Client(self._local)
            return self._client

    def _partition_count(self) -> int:
        if self.partitions is not None:
            return self.partitions
        threads = sum(int(n) for n in self.client.nthreads().values())
        return max(1, 2 * threads)

    def output(
        self,
        store: DataStore,
        spec: JobSpec,
        *,
        as_of: datetime | None,
        interpolation: Interpolation,
    ) -> ComputedOutput:
        """``spec``'s output of ``store``'s data, computed on the cluster: read by the
        workers from the database itself (PostgreSQL, a DuckDB file opened read-only),
        else from a Parquet export of it."""
        if parse_url(store.url).backend == "postgres" or store.read_only:
            return self.output_of_database(
                store.url, spec, as_of=as_of, interpolation=interpolation
            )
        return self._in_time(  # the export counts too
            spec, lambda deadline: self._of_export(store, spec, as_of, interpolation, deadline)
        )

    def _in_time(self, spec: JobSpec, attempt: Callable[[float], ComputedOutput]) -> ComputedOutput:
        """``attempt(deadline)``, again when the data changed meanwhile, every attempt
        within ``timeout_seconds`` of now."""
        deadline = self._clock() + self.timeout_seconds
        return until_unchanged(lambda: attempt(deadline), doing=f"the {spec.output} on the cluster")

    def _of_export(
        self,
        store: DataStore,
        spec: JobSpec,
        as_of: datetime | None,
        interpolation: Interpolation,
        deadline: float,
    ) -> ComputedOutput:
        client = self.client
        folder, manifest = self._exported(store, self._partition_count())
        used = as_of if as_of is not None else manifest.latest_poll
        plan = PartitionPlan(spec, used, interpolation, manifest.ranges, manifest.data_version)
        shipped = replace(plan, ranges=[])
        futures = [
            client.submit(
                _part_from_parquet, folder, manifest, shipped, index, **_task(f"part-{index}")
            )
            for index in range(len(manifest.ranges))
        ]
        done = join_plan(store, plan, self._gather(client, futures, deadline))
        check_version(store, plan)  # the fleet's fallbacks, read from the store itself
        return done

    def output_of_database(
        self,
        url: str,
        spec: JobSpec,
        *,
        as_of: datetime | None,
        interpolation: Interpolation,
    ) -> ComputedOutput:
        """``spec``'s output of the database at ``url`` (PostgreSQL, or a DuckDB file no
        process writes meanwhile), every read done by the workers: one task resolves
        as_of and cuts the ranges, then one task per range reads and computes it. This
        process never opens the database: only the parts come back to it. When an ingest
        or prune comes between the tasks' reads, it is computed again
        (:func:`~storemon.jobs.partitioned.until_unchanged`)."""
        url = _absolute(url)
        return self._in_time(
            spec, lambda deadline: self._of_database(url, spec, as_of, interpolation, deadline)
        )

    def _of_database(
        self,
        url: str,
        spec: JobSpec,
        as_of: datetime | None,
        interpolation: Interpolation,
        deadline: float,
    ) -> ComputedOutput:
        client = self.client
        planning = client.submit(
            _plan_from_database,
            url,
            spec,
            as_of,
            interpolation,
            self._partition_count(),
            **_task("plan"),
        )
        planned: _Planned = self._gather(client, [planning], deadline, "plan the partitions")[0]
        plan = planned.plan
        shipped = replace(plan, ranges=[])
        count = len(plan.ranges)
        futures = [
            client.submit(
                _part_from_database, url, shipped, index, count, stores, **_task(f"part-{index}")
            )
            for index, stores in enumerate(plan.ranges)
        ]
        parts = self._gather(client, futures, deadline)
        return join_parts(parts, spec=spec, fallbacks=planned.fallbacks)

    def _gather(
        self,
        client: Client,
        futures: list[Any],
        deadline: float,
        doing: str = "compute a partition",
    ) -> list[Any]:
        """The futures' results, in order, if they are all done by ``deadline`` (the
        job's: the clock plus ``timeout_seconds`` at its start); the first
        failure raised as its error (``doing`` says what they do, for a task that could
        not run at all)."""
        try:
            _done, pending = wait(futures, timeout=max(0.0, deadline - self._clock()))
        except TimeoutError:
            pending = futures
        if pending:
            client.cancel(futures)
            raise ComputeError(
                f"the cluster did not finish the report within {self.timeout_seconds:g} s "
                f"({len(pending)} of {len(futures)} tasks left); is it overloaded, or "
                "are its workers gone? Raise STOREMON_CLUSTER_TIMEOUT_SECONDS or add workers"
            )
        try:
            results: list[Any] = client.gather(futures)
        except Exception as error:  # a task that could not run at all (workers lost)
            raise ComputeError(f"the cluster failed to {doing}: {error}") from None
        for result in results:
            if isinstance(result, _Failed):
                client.cancel(futures)
                if result.kind == "changed":
                    raise DataChanged(result.message, public=result.public)
                if result.kind == "store":
                    raise StoreError(result.message, public=result.public)
                raise ComputeError(result.message)
        return results

    def _exported(self, store: DataStore, partitions: int) -> tuple[str, Manifest]:
        """The Parquet export of a DuckDB ``store`` at its current data version (written
        now unless it exists), for the workers to read."""
        with self._export_lock:
            root = self._export_root
            if root is None:
                if self._own_export_root is None:
                    self._own_export_root = tempfile.mkdtemp(prefix="storemon-export-")
                root = Path(self._own_export_root)
            version = store.data_version()
            digest = hashlib.sha256(store.url.encode()).hexdigest()[:12]
            folder = root / f"{digest}-v{version}-p{partitions}"
            try:
                manifest = read_manifest(folder)
                if manifest.data_version == version:
                    return str(folder), manifest
            except StoremonError:
                pass
            for stale in root.glob(f"{digest}-v*"):  # older versions of this database
                shutil.rmtree(stale, ignore_errors=True)
            ranges = partition_ranges(store.store_splits(partitions))
            manifest = export_parquet(store, folder, ranges, replace=True)
            log.info("exported %s for the cluster to %s", store.url, folder)
            return str(folder), manifest

    def __call__(self, store: DataStore, job: JobRecord) -> ComputedReport:
        done = self.output(
            store,
            JobSpec.from_json(job.options),
            as_of=job.as_of_requested,
            interpolation=job.interpolation,
        )
        return ComputedReport(
            csv=done.csv, row_count=done.row_count, as_of_used=done.as_of_used, summary=done.summary
        )

    def close(self) -> None:
        """Close the client, stop a local cluster, remove this instance's exports."""
        with self._lock:
            client, self._client = self._client, None
            local, self._local = self._local, None
        if client is not None:
            client.close()
        if local is not None:
            local.close()
        if self._own_export_root is not None:
            shutil.rmtree(self._own_export_root, ignore_errors=True)
            self._own_export_root = None
