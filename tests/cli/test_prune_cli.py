"""`storemon prune`: what it says, its exit codes, --dry-run and --json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import run

from storemon.schema import POLLS
from storemon.store import IngestBatch, open_store

END = datetime(2023, 2, 22, 17, 0, tzinfo=UTC)


def _database(tmp_path: Path) -> str:
    """Four weeks of hourly polls of three stores, the last ending at END."""
    import pyarrow as pa

    url = f"duckdb:///{tmp_path / 'prune.duckdb'}"
    hours = range(0, 24 * 28)
    rows = [
        {"store_id": store_id, "timestamp_utc": END - timedelta(hours=h), "active": h % 5 > 0}
        for store_id in ("s1", "s2", "s3")
        for h in hours
    ]
    store = open_store(url)
    try:
        store.apply_ingest(IngestBatch(polls=pa.Table.from_pylist(rows, schema=POLLS)))
    finally:
        store.close()
    return url


def test_prune_says_what_it_removed_and_a_dry_run_removes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _database(tmp_path)
    code, out, err = run(["prune", "--db", url, "--older-than", "2w", "--dry-run"], capsys)
    assert code == 0, err
    assert "counting polls older than 2w" in err
    # The cut (2023-02-08 17:00) is rounded down to Monday 2023-02-06 00:00 UTC.
    assert out.startswith("would remove ")
    assert "before 2023-02-06 00:00 UTC" in out
    assert "kept 3 (each store's last poll before it); data version 1" in out

    code, out, _ = run(["prune", "--db", url, "--older-than", "2w", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    older = 3 * len(
        [h for h in range(24 * 28) if END - timedelta(hours=h) < datetime(2023, 2, 6, tzinfo=UTC)]
    )
    assert result == {
        "cut": "2023-02-08T17:00:00+00:00",
        "boundary": "2023-02-06T00:00:00+00:00",
        "removed": older - 3,
        "kept": 3,
        "partitions": 0,
        "dry_run": False,
        "changed": True,
        "data_version": 2,
    }
    code, out, _ = run(["prune", "--db", url, "--older-than", "2w"], capsys)
    assert code == 0
    assert "removed 0 polls" in out
    assert "(unchanged: nothing to remove)" in out


@pytest.mark.parametrize("value", ["2", "two weeks", "0d", "1.5w", "30m"])
def test_a_bad_age_is_a_usage_error_that_says_what_to_write(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        ["prune", "--db", f"duckdb:///{tmp_path}/x.duckdb", "--older-than", value], capsys
    )
    assert code == 2
    assert out == ""
    assert "--older-than" in err
    assert "write a positive whole number and a unit h, d or w (e.g. 30d, 8w or 720h)" in err
    assert not (tmp_path / "x.duckdb").exists()


def test_a_cut_inside_the_last_week_needs_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _database(tmp_path)
    code, _, err = run(["prune", "--db", url, "--older-than", "3d"], capsys)
    assert code == 2
    assert "give at least 7d, or add --force" in err
    code, out, _ = run(["prune", "--db", url, "--older-than", "3d", "--force"], capsys)
    assert code == 0
    assert out.startswith("removed ")


def test_an_empty_database_has_nothing_to_prune(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    open_store(url).close()
    code, out, _ = run(["prune", "--db", url, "--older-than", "8w"], capsys)
    assert (code, out) == (0, "no polls stored: nothing to prune\n")
    code, out, _ = run(["prune", "--db", url, "--older-than", "8w", "--json"], capsys)
    assert (code, out) == (0, "null\n")
