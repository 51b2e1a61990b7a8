"""DuckDB-only behaviour: one process per file, in-memory databases."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from storemon.errors import StoreError
from storemon.store import IngestBatch, JobRecord, open_store
from storemon.store import duckdb as duckdb_store

if TYPE_CHECKING:
    from conftest import Tables

#: Bounds the waits of a broken build only; a working one answers at once.
HANG = 60.0
HOUR = timedelta(hours=1)


def test_a_file_held_by_another_process_says_so(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="in use by another process") as caught:
            open_store(f"duckdb:///{path}")
        message = str(caught.value)
        assert str(path) in message
        assert "a running `storemon serve`" in message
        assert "HTTP API" in message
        assert "POST /trigger_report" in message
        assert str(path) not in caught.value.public
    finally:
        holder.kill()
        holder.communicate()


def test_in_memory_store_is_shared_by_its_readers(tables: type[Tables]) -> None:
    store = open_store("duckdb:///:memory:")
    try:
        store.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
        assert store.counts()["polls"] == 1  # read through a separate cursor
    finally:
        store.close()


def test_relative_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    open_store("duckdb:///here.duckdb").close()
    assert (tmp_path / "here.duckdb").is_file()


def test_a_missing_file_is_not_created_for_a_read_only_open(tmp_path: Path) -> None:
    path = tmp_path / "typo.duckdb"
    with pytest.raises(StoreError, match="does not exist") as caught:
        open_store(f"duckdb:///{path}", create=False)
    assert str(path) in str(caught.value)
    assert str(path) not in caught.value.public  # no path for a remote client
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
    open_store(f"duckdb:///{path}").close()  # create=True (the default) creates it
    reopened = open_store(f"duckdb:///{path}", create=False)  # and then it opens
    reopened.close()


_READ_THEN_WRITE = """
import sys
from storemon.errors import StoreError
from storemon.store import open_store
reader = open_store(sys.argv[1], create=False, read_only=True)
print(reader.counts()["polls"])
reader.close()
try:
    open_store(sys.argv[1]).close()
except StoreError as error:
    held = "in use by another process"
    print("refused:", held if held in str(error) else error)
"""


def test_a_read_only_open_shares_the_file_with_other_readers_and_writes_nothing(
    tmp_path: Path, tables: type[Tables]
) -> None:
    url = f"duckdb:///{tmp_path / 'shared.duckdb'}"
    polls = tables.polls([("a", "2023-01-23 10:00", True), ("b", "2023-01-23 11:00", False)])
    writer = open_store(url)
    writer.apply_ingest(IngestBatch(polls=polls))
    writer.close()
    reader = open_store(url, create=False, read_only=True)
    try:
        assert getattr(reader, "read_only", None) is True
        # Another process reads the file meanwhile (as a Dask worker does), but cannot
        # write it.
        other = subprocess.run(
            [sys.executable, "-c", _READ_THEN_WRITE, url],
            capture_output=True,
            text=True,
            timeout=HANG,
        )
        assert other.returncode == 0, other.stderr
        assert other.stdout.splitlines() == ["2", "refused: in use by another process"]
        # Nor can this process.
        with pytest.raises(StoreError, match="read-only"):
            reader.apply_ingest(IngestBatch(polls=polls))
        assert reader.counts()["polls"] == 2
    finally:
        reader.close()
    open_store(url).close()  # writable again once the readers are gone


def test_an_ingest_stores_its_new_polls_in_time_order(tables: type[Tables]) -> None:
    """So a report's read of its window skips older row groups by their zone maps."""
    import random

    rows = [(f"s{i % 37}", datetime(2023, 1, 1, tzinfo=UTC) + i * HOUR, True) for i in range(3000)]
    random.Random(5).shuffle(rows)
    store = open_store("duckdb:///:memory:")
    try:
        store.apply_ingest(IngestBatch(polls=tables.polls(rows)))
        stamps = [
            row[0] for row in store.execute_sql("SELECT timestamp_utc FROM polls ORDER BY rowid")
        ]
        assert len(stamps) == 3000
        assert stamps == sorted(stamps)
    finally:
        store.close()


def test_job_writes_pass_an_open_ingest_and_outlive_its_rollback(
    duckdb_url: str, tables: type[Tables]
) -> None:
    """Jobs have their own writer: while an ingest's transaction is open (held by its
    polls iterable), a job is inserted, run, completed and read; the ingest then fails
    and rolls back, and the job stays as written."""
    store = open_store(duckdb_url)
    inside, release = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def held_polls() -> Iterator[pa.Table]:
        yield tables.polls([("a", "2023-01-23 10:00", True)])
        inside.set()
        assert release.wait(HANG)
        raise RuntimeError("the reader failed mid-file")

    def run_ingest() -> None:
        try:
            store.apply_ingest(IngestBatch(polls=held_polls()))
        except BaseException as error:
            outcome.append(error)

    created = datetime(2024, 1, 1, tzinfo=UTC)
    job = JobRecord(
        id="j1",
        status="queued",
        interpolation="nearest",
        as_of_requested=None,
        data_version=store.data_version(),
        created_at=created,
    )
    seen: dict[str, object] = {}
    written = threading.Event()

    def write_job() -> None:
        try:
            store.insert_job(job)
            assert store.mark_running("j1", started_at=created)
            assert store.mark_complete(
                "j1", finished_at=created, as_of_used=None, row_count=0, csv=b"x\n"
            )
            seen["job"] = store.get_job("j1")
            seen["csv"] = store.job_result("j1")
        finally:
            written.set()

    ingest = threading.Thread(target=run_ingest)
    writer = threading.Thread(target=write_job)
    try:
        ingest.start()
        assert inside.wait(HANG)
        writer.start()
        assert written.wait(HANG), "the job writes waited behind the ingest"
        assert ingest.is_alive()
        assert not release.is_set()
    finally:
        release.set()
        writer.join(HANG)
        ingest.join(HANG)
    try:
        assert isinstance(outcome[0], RuntimeError)
        record = seen["job"]
        assert isinstance(record, JobRecord)
        assert record.status == "complete"
        assert seen["csv"] == b"x\n"
        assert store.counts()["polls"] == 0  # the ingest rolled back
        assert store.data_version() == job.data_version
        assert store.job_result("j1") == b"x\n"  # the job did not
        assert store.execute_sql("SELECT status FROM jobs") == [("complete",)]
    finally:
        store.close()


def test_polls_merged_in_small_chunks_keep_last_row_wins(
    duckdb_url: str, tables: type[Tables], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge works a chunk at a time (here 2 rows): a key repeated across a chunk's
    cut, inside one table or across tables, ends with its last row, a re-ingest writes
    nothing, and a failure in a later chunk rolls back the earlier ones."""
    monkeypatch.setattr(duckdb_store, "_MERGE_ROWS", 2)
    store = open_store(duckdb_url)
    try:
        store.apply_ingest(
            IngestBatch(
                polls=iter(
                    [
                        tables.polls(
                            [
                                ("b", "2023-01-23 10:00", True),
                                ("a", "2023-01-23 10:00", True),
                                ("a", "2023-01-23 10:00", False),  # next chunk: wins
                            ]
                        ),
                        tables.polls([("c", "2023-01-23 11:00", True)]),
                        tables.polls(
                            [("b", "2023-01-23 10:00", False), ("b", "2023-01-23 10:00", True)]
                        ),
                    ]
                )
            )
        )
        rows = store.execute_sql(
            "SELECT s.store_id, p.active FROM polls p JOIN stores s ON s.code = p.store_code"
            " ORDER BY 1"
        )
        assert rows == [("a", False), ("b", True), ("c", True)]
        assert store.latest_poll_utc() == datetime(2023, 1, 23, 11, tzinfo=UTC)
        assert sorted(code for (code,) in store.execute_sql("SELECT code FROM stores")) == [
            0,
            1,
            2,
        ]
        version = store.data_version()

        def failing() -> Iterator[pa.Table]:
            yield tables.polls([("a", "2023-01-23 10:00", True), ("d", "2023-01-23 12:00", True)])
            yield tables.polls([("e", "2023-01-23 12:00", True)])
            raise RuntimeError("the reader failed mid-file")

        with pytest.raises(RuntimeError):
            store.apply_ingest(IngestBatch(polls=failing()))
        assert store.data_version() == version
        assert store.counts()["polls"] == 3
        assert store.execute_sql("SELECT count(*) FROM stores") == [(3,)]
        assert store.latest_poll_utc() == datetime(2023, 1, 23, 11, tzinfo=UTC)
    finally:
        store.close()
