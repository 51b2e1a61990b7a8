"""Partitioned execution and the Dask strategy (issue 10): the same bytes as one process.

One LocalCluster (2 worker processes, 1 thread each) serves the whole module; each test
points a :class:`DaskCompute` at its scheduler. Data: generated polls for stores whose
ids are odd on purpose (a shared prefix around a boundary, non-ASCII, CSV and formula
characters), hours, zones, a stale store and a store whose hours rows were all rejected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from storemon.config import Settings
from storemon.engine.options import report_options
from storemon.errors import DataChanged
from storemon.generate import generate_polls
from storemon.jobs import InThreadCompute
from storemon.jobs.outputs import JobSpec, join_parts, output_of_store
from storemon.jobs.partitioned import (
    PartitionPlan,
    part_of_store,
    partition_ranges,
    partitioned_output,
)
from storemon.store import IngestBatch, JobRecord, Store, open_store

pytest.importorskip("distributed")

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from storemon.jobs.dask_compute import DaskCompute

END = datetime(2023, 1, 25, 18, 0, tzinfo=UTC)
#: 'a', 'a\x01', 'a0' share a prefix (PostgreSQL text holds no NUL: DuckDB adds 'a\x00').
ODD_IDS = ["a", "a\x01", "a0", "a00", "b", "é", "z\u00ff", "日本", "\U0001f600", "x,y", 'q"q']
ODD_IDS += ["=1+1", "-lead", "A", "0", "9"] + [f"s{i:03d}" for i in range(24)]
SPECS = [
    JobSpec(),
    JobSpec(
        options=report_options(
            windows="30m,1d,1w",
            extended=True,
            observed_within_minutes=45,
            unobserved="exclude",
        )
    ),
    JobSpec(output="outages", window=JobSpec().window),
    JobSpec(output="profile"),
]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a module-wide LocalCluster of 2 worker processes."""
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


@pytest.fixture
def on_cluster(scheduler: str, tmp_path: Path) -> Iterator[DaskCompute]:
    compute = DaskCompute(scheduler, partitions=4, timeout_seconds=120, export_dir=tmp_path)
    yield compute
    compute.close()


def _ids(url: str) -> list[str]:
    return ODD_IDS + (["a\x00"] if url.startswith("duckdb") else [])


def _load(store: Store, tables: Any) -> None:
    ids = _ids(store.url)
    polls = generate_polls(ids, start=END - timedelta(days=9), end=END, seed=3)
    stale = tables.polls([("zz-stale", "2023-01-10 10:00", True)])
    hours = tables.hours(
        [(i, d, "09:00", "17:30") for i in ids[::2] for d in range(5)]
        + [("日本", 6, "22:00", "02:00")]
    )
    zones = tables.timezones([(i, "Asia/Tokyo") for i in ids[1::3]] + [("a", "Europe/Berlin")])
    rejects = tables.rejects([("hours", "h.csv", 2, "bad day", "b,9,x,y", "b-rejected")])
    store.apply_ingest(IngestBatch(polls=polls, hours=hours, timezones=zones))
    late = tables.polls([("b-rejected", END - timedelta(minutes=5), True)])
    store.apply_ingest(IngestBatch(polls=pa.concat_tables([late, stale]), rejects=rejects))


@pytest.fixture
def loaded(store: Store, tables: Any) -> Store:
    _load(store, tables)
    return store


def _job(spec: JobSpec, as_of: datetime | None, interpolation: str) -> JobRecord:
    return JobRecord(
        id="job",
        status="running",
        interpolation=interpolation,  # type: ignore[arg-type]
        as_of_requested=as_of,
        data_version=1,
        created_at=END,
        options=spec.to_json(),
    )


def test_cluster_and_partitions_give_the_single_process_bytes(
    loaded: Store, on_cluster: DaskCompute
) -> None:
    for spec in SPECS:
        for as_of in (None, END - timedelta(hours=30)):
            for interpolation in ("nearest", "previous"):
                job = _job(spec, as_of, interpolation)
                single = InThreadCompute()(loaded, job)
                assert on_cluster(loaded, job) == single, (spec, as_of, interpolation)
                alone = output_of_store(loaded, spec, as_of=as_of, interpolation=job.interpolation)
                for partitions in (2, 7):
                    streamed = partitioned_output(
                        loaded,
                        spec,
                        as_of=as_of,
                        interpolation=job.interpolation,
                        partitions=partitions,
                    )
                    assert streamed == alone, (spec, as_of, interpolation, partitions)
    summary = InThreadCompute()(loaded, _job(SPECS[0], None, "nearest")).summary
    codes = [warning["code"] for warning in summary["warnings"]]  # type: ignore[union-attr]
    assert codes == ["stale_stores", "hours_rejected"]


def test_workers_read_a_duckdb_file_opened_read_only_themselves(
    duckdb_url: str, tables: Any, on_cluster: DaskCompute, tmp_path: Path
) -> None:
    jobs = [_job(spec, as_of, "nearest") for spec in SPECS for as_of in (None, END)]
    writer = open_store(duckdb_url)
    try:
        _load(writer, tables)
        expected = [InThreadCompute()(writer, job) for job in jobs]
    finally:
        writer.close()
    shared = open_store(duckdb_url, create=False, read_only=True)
    try:
        assert [on_cluster(shared, job) for job in jobs] == expected
        exports = [path for path in tmp_path.iterdir() if path.is_dir()]  # export_dir
        assert exports == []  # no Parquet export: the workers read the file
    finally:
        shared.close()
    open_store(duckdb_url).close()  # and no worker holds it any more: it opens for writing


def test_a_partition_per_store_puts_a_boundary_between_every_two_ids(
    loaded: Store, on_cluster: DaskCompute
) -> None:
    stores = loaded.counts()["stores"]
    on_cluster.partitions = stores + 5  # more than stores: one store per range
    job = _job(SPECS[1], None, "nearest")
    assert on_cluster(loaded, job) == InThreadCompute()(loaded, job)
    splits = loaded.store_splits(stores + 5)
    assert len(splits) == stores - 1
    assert {"a\x01", "a0", "a00"} <= set(splits)


def test_a_boundary_between_ids_that_share_a_prefix(loaded: Store) -> None:
    """Chosen cuts: 'a' | 'a\\x00' / 'a\\x01' | 'a0' ... — each part holds its stores only."""
    spec = SPECS[1]
    as_of = loaded.latest_poll_utc()
    first_cut = "a\x00" if loaded.url.startswith("duckdb") else "a\x01"
    ranges = partition_ranges([first_cut, "a0"])
    plan = PartitionPlan(spec, as_of, "nearest", ranges)
    parts = [part_of_store(loaded, plan, stores) for stores in ranges]
    whole = output_of_store(loaded, spec, as_of=as_of, interpolation="nearest")
    joined = join_parts(parts, spec=spec, fallbacks=loaded.settings_fallbacks())
    assert joined == whole
    middle = parts[1].csv.decode().splitlines()[1:]
    assert [line.split(",")[0] for line in middle] == [
        i for i in sorted(_ids(loaded.url), key=str.encode) if first_cut <= i < "a0"
    ]


class _DieOnce(WorkerPlugin):  # type: ignore[misc]
    """Ends its worker process (as a kill would) when the first partition starts there."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish == "executing" and "storemon-part" in str(key):
            try:
                os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
            os._exit(1)


def test_a_worker_killed_mid_report_still_gives_the_right_report(
    loaded: Store, on_cluster: DaskCompute, scheduler: str, tmp_path: Path
) -> None:
    import cloudpickle

    cloudpickle.register_pickle_by_value(__import__(__name__))
    flag = tmp_path / "died"
    with Client(scheduler) as client:
        client.register_plugin(_DieOnce(str(flag)), name="die-once")
        try:
            job = _job(SPECS[1], None, "nearest")
            assert on_cluster(loaded, job) == InThreadCompute()(loaded, job)
            assert flag.exists()  # a worker did die
        finally:
            client.unregister_worker_plugin("die-once")
            client.wait_for_workers(2, timeout=60)


def test_a_partition_that_fails_fails_the_job_with_its_reason(
    loaded: Store, on_cluster: DaskCompute, tmp_path: Path
) -> None:
    from storemon.errors import ComputeError, StoremonError

    job = _job(SPECS[0], None, "nearest")
    if loaded.url.startswith("duckdb"):
        folder, manifest = on_cluster._exported(loaded, 4)
        (Path(folder) / manifest.part_file("polls", 2)).write_bytes(b"not parquet")
        with pytest.raises(ComputeError, match=r"partition 3 of 4 .*cannot read part 2"):
            on_cluster(loaded, job)
        return
    # PostgreSQL: the hours of the stores from 'm' on cannot be read (a division by zero)
    loaded.execute_sql("ALTER TABLE hours RENAME TO hours_kept")
    loaded.execute_sql(
        "CREATE VIEW hours AS SELECT store_id, day_of_week, start_local_us,"
        " end_local_us / (CASE WHEN store_id >= 'm' THEN 0 ELSE 1 END) AS end_local_us"
        " FROM hours_kept"
    )
    with pytest.raises(
        StoremonError, match=r"partition [2-4] of 4 \(store ids from .*\): .*division by zero"
    ):
        on_cluster(loaded, job)


def _ingest_one_poll(url: str, tables: Any) -> None:
    """A change to the data, by a process of its own (as another command would)."""
    writer = open_store(url)
    try:
        writer.apply_ingest(IngestBatch(polls=tables.polls([("s000", END, False)])))
    finally:
        writer.close()


CHANGED = r"the database changed while computing the report \(data version 2, now 3\)"


def test_a_partition_that_reads_a_changed_database_fails_saying_so(
    loaded: Store, tables: Any
) -> None:
    """The worker's tasks, called here: the plan at version 2, an ingest, then a range."""
    from dataclasses import replace

    from storemon.jobs import dask_compute

    url = loaded.url
    loaded.close()  # DuckDB: the tasks open the file read-only themselves
    try:
        planned = dask_compute._plan_from_database(url, SPECS[0], None, "nearest", 3)
        assert isinstance(planned, dask_compute._Planned)
        assert planned.plan.data_version == 2  # the two ingests of _load
        shipped = replace(planned.plan, ranges=[])
        first = planned.plan.ranges[0]
        part = dask_compute._part_from_database(url, shipped, 0, 3, first)
        assert not isinstance(part, dask_compute._Failed)  # nothing changed yet
        _ingest_one_poll(url, tables)
        failed = dask_compute._part_from_database(url, shipped, 0, 3, first)
        assert isinstance(failed, dask_compute._Failed)
        assert failed.kind == "changed"  # the client computes it again
        assert re.fullmatch(
            rf"partition 1 of 3 \(store ids from the first id .*\): {CHANGED}.*"
            r"; run it again",
            failed.message,
        )
        assert failed.public == failed.message  # nothing private in it
    finally:
        kept = dask_compute._STORES.pop(url, None)  # PostgreSQL: the worker's store, kept
        if kept is not None:
            kept.close()


def test_partitions_in_one_process_are_computed_again_when_the_database_changes_between_them(
    loaded: Store, tables: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.jobs import partitioned

    read = partitioned.inputs_for
    reads: list[int] = []

    def then_ingest_once(*args: Any) -> Any:
        inputs = read(*args)
        reads.append(1)
        if len(reads) == 1:  # after the first part's read of the first attempt
            loaded.apply_ingest(IngestBatch(polls=tables.polls([("s000", END, False)])))
        return inputs

    monkeypatch.setattr(partitioned, "inputs_for", then_ingest_once)
    done = partitioned_output(loaded, SPECS[0], as_of=None, interpolation="nearest", partitions=2)
    assert len(reads) == 1 + 2  # one part of the first attempt, both of the second
    monkeypatch.undo()
    alone = output_of_store(loaded, SPECS[0], as_of=None, interpolation="nearest")
    assert done.csv == alone.csv  # the changed data's report, whole


def test_partitions_in_one_process_fail_when_the_database_keeps_changing(
    loaded: Store, tables: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.jobs import partitioned

    read = partitioned.inputs_for
    minute = iter(range(1, 100))

    def then_ingest(*args: Any) -> Any:
        inputs = read(*args)
        late = END + timedelta(minutes=next(minute))
        loaded.apply_ingest(IngestBatch(polls=tables.polls([("s000", late, False)])))
        return inputs

    monkeypatch.setattr(partitioned, "inputs_for", then_ingest)
    with pytest.raises(DataChanged) as caught:
        partitioned_output(loaded, SPECS[0], as_of=None, interpolation="nearest", partitions=2)
    assert re.fullmatch(
        r"the database changed while computing the report \(data version \d+, now \d+\): .*"
        r"; run it again \(the data changed during each of 3 attempts\)",
        str(caught.value),
    )


def test_serve_computes_its_jobs_on_the_cluster(loaded: Store, scheduler: str) -> None:
    store = loaded
    import asyncio

    from storemon.api import create_app

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, db=store.url, cluster=scheduler, inbox_enabled=False, api_token=None
    )
    app = create_app(settings, store)

    async def started() -> object:
        async with app.router.lifespan_context(app):
            compute = app.state.services.jobs._compute
            job = _job(SPECS[0], None, "nearest")
            assert compute(store, job) == InThreadCompute()(store, job)
            return compute

    compute = asyncio.run(started())
    assert isinstance(compute, DaskCompute)
    assert compute.cluster.address == scheduler


def test_export_is_sorted_and_split_by_store_id(loaded: Store, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from storemon.store.parquet import export_parquet, read_manifest

    ranges = partition_ranges(loaded.store_splits(3))
    export_parquet(loaded, tmp_path / "out", ranges)
    manifest = read_manifest(tmp_path / "out")
    assert manifest.ranges == ranges
    ids: list[str] = []
    for part in range(3):
        table = pq.read_table(tmp_path / "out" / manifest.part_file("polls", part))
        assert table.num_rows == manifest.polls[part]
        ids += table.column("store_id").to_pylist()
    assert ids == sorted(ids, key=str.encode)
    assert sum(manifest.polls) == loaded.counts()["polls"]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from storemon.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_the_commands_on_the_cluster(
    loaded: Store, scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = loaded.url
    if url.startswith("duckdb"):
        loaded.close()  # the command opens the file itself
    missing = tmp_path / "missing.duckdb"
    code, out, err = _cli(
        ["report", "--db", f"duckdb:///{missing}", "--cluster", scheduler], capsys
    )
    assert (code, out) == (1, "")
    assert "planning the partitions" in err
    assert "does not exist" in err
    assert not missing.exists()
    for command in (["report", "--extended"], ["outages", "--window", "24h"], ["profile"]):
        code, alone, err = _cli([*command, "--db", url], capsys)
        assert code == 0, err
        code, out, err = _cli(
            [*command, "--db", url, "--cluster", scheduler, "--partitions", "3"], capsys
        )
        assert code == 0, err
        assert out == alone


def test_a_report_on_the_cluster_is_computed_again_when_the_database_changes_meanwhile(
    loaded: Store,
    tables: Any,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ingest between the planning task and the partitions' tasks: the partitions say
    so, and the report is planned and computed again, of the changed data."""
    url = loaded.url
    loaded.close()  # DuckDB: the workers open the file themselves
    gather = DaskCompute._gather
    calls: list[str] = []

    def ingest_after_planning(self: DaskCompute, *args: Any) -> list[Any]:
        calls.append("gather")
        try:
            results = gather(self, *args)
        except DataChanged:
            calls.append("changed")
            raise
        if len(calls) == 1:  # the plan is made: another process ingests now
            _ingest_one_poll(url, tables)
        return results

    monkeypatch.setattr(DaskCompute, "_gather", ingest_after_planning)
    code, out, err = _cli(["report", "--db", url, "--cluster", scheduler], capsys)
    assert code == 0, err
    assert calls == ["gather", "gather", "changed", "gather", "gather"]
    monkeypatch.undo()
    code, alone, err = _cli(["report", "--db", url], capsys)
    assert code == 0, err
    assert out == alone  # the report of version 3


def test_a_relative_duckdb_path_is_read_by_the_workers_as_the_client_means_it(
    on_cluster: DaskCompute, tables: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers started elsewhere (their own working directory): the client's relative
    path reaches them made absolute."""
    folder = tmp_path / "here"
    folder.mkdir()
    monkeypatch.chdir(folder)
    store = open_store("duckdb:///relative.duckdb")
    try:
        _load(store, tables)
        alone = output_of_store(store, SPECS[0], as_of=None, interpolation="nearest")
    finally:
        store.close()
    done = on_cluster.output_of_database(
        "duckdb:///relative.duckdb", SPECS[0], as_of=None, interpolation="nearest"
    )
    assert done.csv == alone.csv
    assert (folder / "relative.duckdb").exists()


def test_the_timeout_bounds_the_whole_job_not_each_wait(
    loaded: Store, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planning seems to take 61 s of a 60 s job: the partitions' wait has no time left
    (each wait given the whole timeout anew would let the job finish)."""
    from storemon.errors import ComputeError

    url = loaded.url
    loaded.close()  # DuckDB: the workers open the file themselves
    now = [0.0]
    compute = DaskCompute(scheduler, partitions=2, timeout_seconds=60, clock=lambda: now[0])
    gather = compute._gather

    def planning_took_long(*args: Any) -> list[Any]:
        results = gather(*args)
        now[0] += 61
        return results

    monkeypatch.setattr(compute, "_gather", planning_took_long)
    try:
        with pytest.raises(ComputeError, match=r"did not finish the report within 60 s"):
            compute.output_of_database(url, SPECS[0], as_of=None, interpolation="nearest")
    finally:
        compute.close()


def test_an_ingest_after_the_export_is_computed_again(
    on_cluster: DaskCompute, tables: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's own DuckDB file, served through a Parquet export: an ingest between
    the export and the fleet's fallbacks (read from the store) makes a new export."""
    from storemon.jobs import dask_compute

    loaded = open_store(f"duckdb:///{tmp_path / 'served.duckdb'}")
    _load(loaded, tables)

    join = dask_compute.join_plan
    joins: list[int] = []

    def then_ingest_once(*args: Any) -> Any:
        done = join(*args)
        joins.append(1)
        if len(joins) == 1:
            loaded.apply_ingest(IngestBatch(polls=tables.polls([("s000", END, False)])))
        return done

    monkeypatch.setattr(dask_compute, "join_plan", then_ingest_once)
    done = on_cluster.output(loaded, SPECS[0], as_of=None, interpolation="nearest")
    assert len(joins) == 2
    monkeypatch.undo()
    alone = output_of_store(loaded, SPECS[0], as_of=None, interpolation="nearest")
    loaded.close()
    assert done.csv == alone.csv
