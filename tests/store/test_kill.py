"""apply_ingest is all or nothing: SIGKILL a real `storemon ingest` in the middle of its write."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pytest

from storemon.store import IngestBatch, open_store

if TYPE_CHECKING:
    from conftest import Tables

ROWS = 600_000
STORES = 2_000


@pytest.fixture(scope="module")
def big_status_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A status CSV of ROWS polls (hourly, STORES stores), written without a Python loop."""
    index = np.arange(ROWS)
    store_ids = pc.binary_join_element_wise("s", pa.array((index % STORES).astype(str)), "")
    seconds = 1_674_000_000 + (index // STORES) * 3600 + (index % STORES)
    table = pa.table(
        {
            "store_id": store_ids,
            "status": pa.array(np.where(index % 7 == 0, "inactive", "active")),
            "timestamp_utc": pa.array(seconds.astype("datetime64[s]")),
        }
    )
    path = tmp_path_factory.mktemp("kill") / "status.csv"
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="none"))
    return path


def _in_transaction(url: str, baseline_bytes: int) -> bool:
    """Whether the ingest is writing its transaction (and has not committed)."""
    if url.startswith("duckdb:"):
        # DuckDB writes a large insert's row groups to the file before its commit.
        path = Path(url.removeprefix("duckdb:///"))
        return path.stat().st_size > baseline_bytes
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active'"
            " AND query ~ '(_polls_staged|INSERT INTO polls|UPDATE polls)'",
            [name],
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.slow
def test_killing_an_ingest_midway_leaves_the_database_as_before(
    store_url: str, big_status_csv: Path, tables: type[Tables]
) -> None:
    store = open_store(store_url)
    try:
        store.apply_ingest(
            IngestBatch(
                polls=tables.polls([("s1", "2023-01-01 00:00", True)]),
                timezones=tables.timezones([("s1", "Asia/Tokyo")]),
            )
        )
        before = (store.counts(), store.data_version(), store.latest_poll_utc())
    finally:
        store.close()
    baseline = (
        Path(store_url.removeprefix("duckdb:///")).stat().st_size
        if store_url.startswith("duckdb:")
        else 0
    )
    command = [sys.executable, "-c", "from storemon.cli import main; main()"]
    process = subprocess.Popen(
        [*command, "ingest", "--db", store_url, "--status", str(big_status_csv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not _in_transaction(store_url, baseline):
            if process.poll() is not None:
                output = process.communicate()
                pytest.fail(f"the ingest ended before it could be killed: {output!r}")
            if time.monotonic() > deadline:
                pytest.fail("the ingest never started writing")
            time.sleep(0.002)
        process.kill()
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -9

    reopened = open_store(store_url)
    try:
        assert (reopened.counts(), reopened.data_version(), reopened.latest_poll_utc()) == before
        reopened.apply_ingest(IngestBatch(polls=tables.polls([("s2", "2023-01-02 00:00", True)])))
        assert reopened.counts()["polls"] == 2
    finally:
        reopened.close()
