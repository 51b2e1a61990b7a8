"""`storemon ingest`, `rejects`, `watch --once` and `db`: output text and exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import run

from storemon.store import open_store
from storemon.store.migrations import SCHEMA_VERSION

STATUS = (
    "store_id,status,timestamp_utc\n"
    "a,active,2023-01-23 10:00:00 UTC\n"
    "b,maybe,2023-01-23 10:00:00 UTC\n"
    "c,active,2023-01-23 10:05:00 UTC\n"
)
HOURS = "store_id,dayOfWeek,start_time_local,end_time_local\na,0,09:00:00,12:00:00\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    status = tmp_path / "status.csv"
    status.write_text(STATUS)
    hours = tmp_path / "hours.csv"
    hours.write_text(HOURS)
    return {"status": status, "hours": hours}


def test_ingest_text_summary_and_rejects_on_stderr(
    store_url: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        [
            "ingest",
            "--db",
            store_url,
            "--status",
            str(files["status"]),
            "--hours",
            str(files["hours"]),
        ],
        capsys,
    )
    assert code == 0, err
    assert f"status: {files['status']}: 3 rows, 2 loaded, 1 rejected" in out
    assert f"hours: {files['hours']}: 1 rows, 1 loaded, 0 rejected" in out
    assert "data version 1" in out
    assert f"{files['status']}:3: unknown status 'maybe'" in err


def test_ingest_json_and_the_db_env_fallback(
    store_url: str,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOREMON_DB", store_url)
    code, out, _ = run(["ingest", "--status", str(files["status"]), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["status"]
    assert (data["status"]["rows"], data["status"]["loaded"], data["status"]["rejected"]) == (
        3,
        2,
        1,
    )
    assert data["status"]["rejects"][0]["line"] == 3
    store = open_store(store_url)
    try:
        assert store.counts()["polls"] == 2
    finally:
        store.close()


def test_a_refused_file_exits_1_naming_file_and_column(
    store_url: str, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "zones.csv"
    bad.write_text("store_id,zone\na,UTC\n")
    code, _, err = run(
        ["ingest", "--db", store_url, "--status", str(files["status"]), "--timezones", str(bad)],
        capsys,
    )
    assert code == 1
    assert str(bad) in err
    assert "timezone_str" in err
    store = open_store(store_url)
    try:
        assert store.counts()["polls"] == 0  # the good file was not stored either
        assert store.data_version() == 0
    finally:
        store.close()


def test_usage_errors_exit_2(
    duckdb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["ingest", "--db", duckdb_url], capsys)
    assert code == 2
    assert "--status" in err
    code, _, err = run(
        ["ingest", "--db", duckdb_url, "--status", str(tmp_path / "nope.csv")], capsys
    )
    assert code == 2
    assert "nope.csv" in err
    code, _, err = run(["rejects", "--db", duckdb_url, "--source", "menus"], capsys)
    assert code == 2
    assert "menus" in err


def test_a_bad_database_url_is_a_usage_error_with_a_hint(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(
        ["ingest", "--db", "sqlite:///x.db", "--status", str(files["status"])], capsys
    )
    assert code == 2
    assert "Invalid value for '--db'" in err
    assert "duckdb:///" in err
    monkeypatch.setenv("STOREMON_DB", "sqlite:///x.db")
    code, _, err = run(["ingest", "--status", str(files["status"])], capsys)
    assert code == 2
    assert "Invalid value for STOREMON_DB" in err


def test_rejects_lists_stored_bad_rows(
    duckdb_url: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run(["ingest", "--db", duckdb_url, "--hours", str(files["hours"])], capsys)
    code, out, _ = run(["rejects", "--db", duckdb_url], capsys)
    assert (code, out.strip()) == (0, "no rejected rows")
    run(["ingest", "--db", duckdb_url, "--status", str(files["status"])], capsys)
    code, out, _ = run(["rejects", "--db", duckdb_url], capsys)
    assert code == 0
    assert f"{files['status']}:3: unknown status 'maybe'" in out
    assert "'b,maybe,2023-01-23 10:00:00 UTC'" in out
    code, out, _ = run(["rejects", "--db", duckdb_url, "--source", "status", "--json"], capsys)
    rows = json.loads(out)["rejects"]
    assert [(r["source"], r["line"]) for r in rows] == [("status", 3)]
    assert rows[0]["ingested_at"].endswith("+00:00")
    code, out, _ = run(["rejects", "--db", duckdb_url, "--source", "hours"], capsys)
    assert out.strip() == "no rejected rows"


def test_db_shows_counts_and_versions(
    duckdb_url: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run(["ingest", "--db", duckdb_url, "--status", str(files["status"])], capsys)
    code, out, _ = run(["db", "--db", duckdb_url, "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert info["polls"] == 2
    assert info["stores"] == 2
    assert info["data_version"] == 1
    assert info["schema_version"] == SCHEMA_VERSION
    assert info["latest_poll_utc"] == "2023-01-23T10:05:00+00:00"
    code, out, _ = run(["db", "--db", duckdb_url], capsys)
    assert "latest_poll_utc  2023-01-23T10:05:00+00:00" in out


def test_watch_once_ingests_the_inbox(
    duckdb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "polls.csv").write_text(STATUS)
    (inbox / "menu.csv").write_text("item,price\n")
    code, out, err = run(["watch", "--db", duckdb_url, "--inbox", str(inbox), "--once"], capsys)
    assert code == 1  # a file was refused (menu.csv): the scan says so in its exit code
    assert "polls.csv: status, 3 rows, 2 loaded, 1 rejected" in out
    assert "menu.csv: failed" in err
    assert (inbox / "processed" / "polls.csv").exists()
    assert (inbox / "failed" / "menu.csv.reason.txt").exists()
    code, out, _ = run(["watch", "--db", duckdb_url, "--inbox", str(inbox), "--once"], capsys)
    assert (code, out.strip()) == (0, "inbox: no new files")


def test_watch_runs_until_sigterm(duckdb_url: str, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from storemon.cli import main; main()",
            "watch",
            "--db",
            duckdb_url,
            "--inbox",
            str(inbox),
            "--interval",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not inbox.is_dir() and time.monotonic() < deadline:
            time.sleep(0.05)
        (inbox / "polls.csv.part").write_text(STATUS)
        (inbox / "polls.csv.part").rename(inbox / "polls.csv")
        while not (inbox / "processed" / "polls.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (inbox / "processed" / "polls.csv").exists()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "watching" in err
    assert "polls.csv ingested as status" in err
    assert "stopped" in err


def test_ingest_shows_the_first_rejects_and_counts_the_rest(
    duckdb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "store_id,status,timestamp_utc\ngood,active,2023-01-23 10:00:00\n"
        + "".join(f"s{i},maybe,2023-01-23 10:00:00\n" for i in range(7))
    )
    code, out, err = run(["ingest", "--db", duckdb_url, "--status", str(bad)], capsys)
    assert code == 0
    assert "8 rows, 1 loaded, 7 rejected" in out
    assert err.count(f"{bad}:") == 6  # five rejects and the summary line
    assert f"status: {bad}: reading" not in err  # a quick ingest shows no progress lines
    assert f"{bad}:6: unknown status 'maybe'" in err
    assert f"{bad}: ... and 2 more (storemon rejects --source status)" in err


def test_a_refused_file_creates_no_database_file(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "zones.csv"
    bad.write_text("store_id,zone\na,UTC\n")
    target = tmp_path / "new.duckdb"
    code, _, err = run(
        [
            "ingest",
            "--db",
            f"duckdb:///{target}",
            "--status",
            str(files["status"]),
            "--timezones",
            str(bad),
        ],
        capsys,
    )
    assert code == 1
    assert "timezone_str" in err
    assert not target.exists()  # files are read before the database is opened
