"""DuckDB-only behaviour: one process per file, in-memory databases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from storemon.errors import StoreError
from storemon.store import IngestBatch, open_store

if TYPE_CHECKING:
    from conftest import Tables


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
