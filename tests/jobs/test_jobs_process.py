"""Reports computed in worker processes (what `storemon serve` uses)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from storemon.jobs import InThreadCompute, ProcessCompute, ReportWorkerError
from storemon.store import IngestBatch, JobRecord, Store, open_store

AS_OF = datetime(2023, 1, 23, 17, 0, tzinfo=UTC)


@pytest.fixture
def example_store(duckdb_url: str, tables: Any) -> Iterator[Store]:
    store = open_store(duckdb_url)
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(
                [
                    ("S", "2023-01-23 15:14", True),
                    ("S", "2023-01-23 16:15", False),
                    ("T", "2023-01-23 16:30", True),
                ]
            ),
            hours=tables.hours([("S", 0, "09:00", "12:00")]),
            timezones=tables.timezones([("S", "America/New_York")]),
        )
    )
    yield store
    store.close()


@pytest.fixture
def process_compute() -> Iterator[ProcessCompute]:
    compute = ProcessCompute(1)
    yield compute
    compute.close()


def _job(as_of: datetime | None = AS_OF, interpolation: str = "nearest") -> JobRecord:
    return JobRecord(
        id="job",
        status="running",
        interpolation=interpolation,  # type: ignore[arg-type]
        as_of_requested=as_of,
        data_version=1,
        created_at=AS_OF,
    )


def test_worker_process_gives_the_same_report_as_the_thread(
    example_store: Store, process_compute: ProcessCompute
) -> None:
    for as_of in (AS_OF, None):
        for interpolation in ("nearest", "previous"):
            job = _job(as_of, interpolation)
            in_process = process_compute(example_store, job)
            in_thread = InThreadCompute()(example_store, job)
            assert in_process == in_thread
    assert in_process.row_count == 2
    assert in_process.csv.startswith(b"store_id,uptime_last_hour,")


def test_the_hand_over_keeps_the_dictionary_coded_store_ids(
    example_store: Store, tmp_path: Path
) -> None:
    from storemon.jobs import compute as compute_module

    inputs = example_store.report_inputs(AS_OF)
    assert inputs.polls.schema.field("store_id").type == pa.dictionary(pa.int32(), pa.string())
    for name in ("polls", "hours", "timezones"):
        table = getattr(inputs, name)
        compute_module._write_table(table, str(tmp_path / name))
        back = compute_module._read_table(str(tmp_path / name))
        assert back.schema == table.schema
        assert back.equals(table)


def test_a_dead_worker_fails_the_report_and_the_next_one_works(
    example_store: Store, process_compute: ProcessCompute
) -> None:
    process_compute.warm_up()
    deadline = time.monotonic() + 30
    while not multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    for child in multiprocessing.active_children():
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
    with pytest.raises(ReportWorkerError, match="worker process died"):
        process_compute(example_store, _job())
    assert process_compute(example_store, _job()).row_count == 2


def test_inputs_go_through_dev_shm_only_when_it_has_room(monkeypatch: pytest.MonkeyPatch) -> None:
    from storemon.jobs import compute as compute_module

    class Small:
        f_bavail, f_frsize = 64, 1024 * 1024  # 64 MB free, like a container's default

    monkeypatch.setattr(compute_module.os, "statvfs", lambda path: Small())
    assert compute_module._handover_dir(10 * 1024 * 1024) == "/dev/shm"
    assert compute_module._handover_dir(50 * 1024 * 1024) is None  # the temporary directory instead

    def missing(path: str) -> None:
        raise FileNotFoundError(path)

    monkeypatch.setattr(compute_module.os, "statvfs", missing)
    assert compute_module._handover_dir(1) is None


_ORPHAN_SCRIPT = """
import multiprocessing, sys, time
from storemon.jobs import ProcessCompute
compute = ProcessCompute(1)
compute.warm_up()
deadline = time.monotonic() + 30
while not multiprocessing.active_children() and time.monotonic() < deadline:
    time.sleep(0.01)
print(" ".join(str(child.pid) for child in multiprocessing.active_children()), flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead; only its parent (init here) has not reaped it yet
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_exit_when_the_server_is_killed() -> None:
    """kill -9 of the server must not leave its worker processes running forever."""
    import subprocess
    import sys

    with subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None
            pids = [int(pid) for pid in server.stdout.readline().split()]
            assert pids, "the worker did not start"
        finally:
            server.kill()
            server.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"worker processes {left} outlived the killed server"


def test_warm_up_removes_inputs_left_by_a_killed_server(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, example_store: Store
) -> None:
    """A server killed mid-report leaves its handed-over inputs (tens of MB, often in
    memory-backed /dev/shm); the next start removes them, and only those of dead servers."""
    import subprocess
    import sys
    import tempfile

    from storemon.jobs import compute as compute_module

    monkeypatch.setattr(compute_module, "_SHM", str(tmp_path / "shm"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "shm").mkdir()
    (tmp_path / "tmp").mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = [
        tmp_path / "shm" / f"storemon-report-{dead_pid}-abc",
        tmp_path / "tmp" / f"storemon-report-{dead_pid}-def",
    ]
    kept = [
        tmp_path / "shm" / f"storemon-report-{os.getpid()}-live",  # a running server's
        tmp_path / "shm" / "unrelated",
    ]
    for folder in stale + kept:
        folder.mkdir()
        (folder / "polls").write_bytes(b"x" * 10)
    compute = ProcessCompute(1)
    try:
        compute.warm_up()
        assert [folder.exists() for folder in stale] == [False, False]
        assert [folder.exists() for folder in kept] == [True, True]
        # its own hand-over folders carry its pid, so a later start can tell
        seen: list[str] = []
        real_write = compute_module._write_table

        def spy(table: pa.Table, path: str) -> None:
            seen.append(path)
            real_write(table, path)

        monkeypatch.setattr(compute_module, "_write_table", spy)
        assert compute(example_store, _job()).row_count == 2
        assert seen
        assert all(f"storemon-report-{os.getpid()}-" in path for path in seen)
    finally:
        compute.close()
