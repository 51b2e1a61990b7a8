"""`storemon demo`: loads the bundled data into an empty database, once; the same week
(ending 2023-01-25 18:13 UTC) on every machine unless `--end now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import run

from storemon.store import open_store


def _contents(url: str) -> tuple[dict[str, int], datetime | None]:
    store = open_store(url)
    try:
        return store.counts(), store.latest_poll_utc()
    finally:
        store.close()


def test_demo_loads_an_empty_database_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb:///{tmp_path}/demo.duckdb"
    code, out, err = run(["demo", "--db", url, "--days", "0.1"], capsys)
    assert code == 0, err
    assert "demo data loaded" in out
    assert "up to 2023-01-25 18:13 UTC" in err
    counts, latest = _contents(url)
    assert counts["hours"] == 86_198
    assert counts["timezones"] == 13_559
    assert counts["polls"] > 10_000
    assert counts["rejects"] == 0
    assert latest is not None
    end = datetime(2023, 1, 25, 18, 13, tzinfo=UTC)
    assert end - timedelta(minutes=15) < latest < end  # the original data set's period

    code, out, _ = run(["demo", "--db", url], capsys)
    assert code == 0
    assert f"already has {counts['polls']:,} polls; demo data not loaded" in out
    assert "--merge" in out
    assert _contents(url)[0] == counts


def test_the_default_demo_is_the_same_on_every_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = []
    for name in ("one", "two"):
        url = f"duckdb:///{tmp_path}/{name}.duckdb"
        assert run(["demo", "--db", url, "--days", "0.05"], capsys)[0] == 0
        code, out, _ = run(["report", "--db", url, "--as-of", "2023-01-25 18:00:00"], capsys)
        assert code == 0
        reports.append(out)
    assert reports[0] == reports[1]
    assert reports[0].count("\n") > 5_000  # a row for every demo store polled in 72 minutes


def test_end_now_gives_a_live_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"duckdb:///{tmp_path}/live.duckdb"
    code, _, err = run(["demo", "--db", url, "--days", "0.1", "--end", "now"], capsys)
    assert code == 0, err
    _, latest = _contents(url)
    assert latest is not None
    assert datetime.now(UTC) - latest < timedelta(hours=2)


def test_merge_adds_to_existing_polls_and_force_says_what_it_became(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb:///{tmp_path}/demo.duckdb"
    assert run(["demo", "--db", url, "--days", "0.1"], capsys)[0] == 0
    before, _ = _contents(url)

    code, _, err = run(["demo", "--db", url, "--force"], capsys)
    assert code == 2
    assert "--force is now --merge" in err
    assert "storemon demo --db duckdb:///demo.duckdb" in err
    assert _contents(url)[0] == before  # nothing loaded

    code, _, err = run(["demo", "--db", url, "--days", "0.1", "--end", "now", "--merge"], capsys)
    assert code == 0, err
    after, latest = _contents(url)
    assert after["polls"] > before["polls"]  # added: the January polls are still there
    assert latest is not None
    assert latest.year > 2023


def test_help_shows_merge_not_force(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["demo", "--help"], capsys)
    assert code == 0
    assert "--merge" in out
    assert "--force" not in out
