"""`storemon demo`: loads the bundled data into an empty database, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import run

from storemon.store import open_store


def test_demo_loads_an_empty_database_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb:///{tmp_path}/demo.duckdb"
    code, out, _ = run(["demo", "--db", url, "--days", "0.1"], capsys)
    assert code == 0
    assert "demo data loaded" in out
    store = open_store(url)
    try:
        counts = store.counts()
        latest = store.latest_poll_utc()
    finally:
        store.close()
    assert counts["hours"] == 86_198
    assert counts["timezones"] == 13_559
    assert counts["polls"] > 10_000
    assert counts["rejects"] == 0
    assert latest is not None
    assert datetime.now(UTC) - latest < timedelta(hours=2)  # live: polls end now

    code, out, _ = run(["demo", "--db", url], capsys)
    assert code == 0
    assert f"already has {counts['polls']:,} polls; demo data not loaded" in out
