"""`--partitions`, `--cluster` and `storemon export --parquet` on the command line (the
cluster itself is exercised in tests/jobs/test_jobs_dask.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run

from storemon.generate import generate_polls
from storemon.store import IngestBatch, open_store

END = datetime(2023, 1, 25, 18, 0, tzinfo=UTC)
IDS = ["a", "a0", "é", "日本", "x,y", "=1", *(f"s{i}" for i in range(20))]


@pytest.fixture
def db(store_url: str, tables: Any) -> str:
    store = open_store(store_url)
    polls = generate_polls(IDS, start=END - timedelta(days=8), end=END, seed=5)
    hours = tables.hours([(i, 1, "08:00", "20:00") for i in IDS[::3]])
    store.apply_ingest(IngestBatch(polls=polls, hours=hours))
    store.close()
    return store_url


@pytest.mark.parametrize(
    "command",
    [["report"], ["report", "--extended", "--windows", "2h,3d"], ["outages"], ["profile"]],
)
def test_partitions_stream_the_same_bytes(
    db: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, whole, err = run([*command, "--db", db], capsys)
    assert code == 0, err
    for partitions in ("1", "4", "100"):
        code, out, err = run([*command, "--db", db, "--partitions", partitions], capsys)
        assert code == 0, err
        assert out == whole


@pytest.mark.parametrize(
    ("argv", "hint", "says"),
    [
        (["report", "--partitions", "0"], "--partitions", "write a whole number from 1"),
        (["profile", "--partitions", "-3"], "--partitions", "e.g. --partitions 8"),
        (["report", "--cluster", "bogus"], "--cluster", "write local"),
        (["outages", "--cluster", "tcp://host"], "--cluster", "tcp://HOST:PORT"),
        (["outages", "--cluster", "local:2", "--store", "s1"], "--cluster", "--store computes"),
        (["export", "--parquet", "out", "--partitions", "0"], "--partitions", "from 1"),
    ],
)
def test_usage_errors_say_what_to_write(
    argv: list[str], hint: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert hint in err
    assert says in " ".join(err.split())


def test_partitions_with_files_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = tmp_path / "s.csv"
    status.write_text("store_id,status,timestamp_utc\n1,active,2023-01-25 10:00:00 UTC\n")
    code, _, err = run(["report", "--status", str(status), "--partitions", "2"], capsys)
    assert code == 2
    assert "compute from the database" in " ".join(err.split())


def test_export_writes_parts_and_refuses_a_full_directory(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "export"
    code, _, err = run(
        ["export", "--db", db, "--parquet", str(target), "--partitions", "3"], capsys
    )
    assert code == 0, err
    assert "in 3 part(s)" in err
    assert sorted(p.name for p in (target / "polls").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    code, _, err = run(["export", "--db", db, "--parquet", str(target)], capsys)
    assert code == 1
    assert "is not empty" in err
    code, _, err = run(["export", "--db", db, "--parquet", str(target), "--replace"], capsys)
    assert code == 0, err
