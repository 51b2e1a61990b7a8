"""Bad settings and database URLs from the command's point of view: exit 2, one line,
and only from the commands that use the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run


@pytest.fixture
def loaded_db(duckdb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    status = tmp_path / "status.csv"
    status.write_text("store_id,status,timestamp_utc\na,active,2023-01-23 10:00:00 UTC\n")
    assert run(["ingest", "--db", duckdb_url, "--status", str(status)], capsys)[0] == 0
    return duckdb_url


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_a_bad_port_stops_serve_in_one_line_and_not_db(
    where: str,
    loaded_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOREMON_PORT", raising=False)
    if where == "environment":
        monkeypatch.setenv("STOREMON_PORT", "abc")
    else:
        (tmp_path / ".env").write_text("STOREMON_PORT=abc\n")
    code, out, err = run(["db", "--db", loaded_db], capsys)
    assert code == 0, err
    assert "polls" in out
    code, out, err = run(["serve", "--db", loaded_db], capsys)
    assert code == 2
    assert err.splitlines() == [
        "error: STOREMON_PORT='abc'"
        + (" (in .env)" if where == ".env" else "")
        + " is not valid: it takes an integer from 1 to 65535"
    ]
    code, _, err = run(["serve", "--db", loaded_db, "--port", "8123", "--log-level", "x"], capsys)
    assert code == 2
    assert "Invalid value for '--log-level'" in err


def test_a_bad_watch_setting_stops_watch(
    loaded_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STOREMON_INBOX_INTERVAL_SECONDS", "soon")
    code, _, err = run(["watch", "--db", loaded_db, "--once"], capsys)
    assert code == 2
    assert "STOREMON_INBOX_INTERVAL_SECONDS='soon' is not valid: it takes a number" in err
    code, _, err = run(["report", "--db", loaded_db], capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "duckdb://relative.duckdb", "duckdb:///", "mysql://u@h/db"]
)
def test_a_bad_db_url_is_a_usage_error_on_every_command(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["db"], ["rejects"], ["report"], ["demo"], ["watch", "--once"]):
        code, out, err = run([*argv, "--db", url], capsys)
        assert code == 2, (argv, err)
        assert "Invalid value for '--db'" in err, argv
        assert out == ""


def test_a_missing_duckdb_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb:///{tmp_path}/no/such/dir/x.duckdb"
    code, _, err = run(["demo", "--db", url], capsys)
    assert code == 2
    assert "does not exist" in err
