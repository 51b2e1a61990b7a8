"""Terminal injection: what the CLI prints from data (file names, reasons, raw rows) is
escaped, so a hostile file can neither drive the terminal nor forge a line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run

ESC_NAME = "polls\x1b[2J\nERROR forged.csv"
SHOWN_NAME = "polls\\x1b[2J\\nERROR forged.csv"
ROWS = (
    "store_id,status,timestamp_utc\n"
    "a,active,2023-01-23 10:00:00 UTC\n"
    "b,\x1b[31mred\x1b]0;title\x07,2023-01-23 10:00:00 UTC\n"
    "c\u202e,maybe\r,2023-01-23 10:00:00 UTC\n"
)


def _safe(text: str) -> None:
    """No control character but the line ends, and every line is a line we printed."""
    for line in text.splitlines():
        assert all(ch.isprintable() for ch in line), repr(line)
    assert "\r" not in text


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / ESC_NAME
    path.write_text(ROWS)
    return path


def test_ingest_and_rejects_escape_names_reasons_and_rows(
    duckdb_url: str, hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["ingest", "--db", duckdb_url, "--status", str(hostile)], capsys)
    assert code == 0, err
    _safe(out + err)
    assert SHOWN_NAME in out
    assert "\\x1b[31mred" in err
    code, out, err = run(["rejects", "--db", duckdb_url], capsys)
    assert code == 0, err
    _safe(out + err)
    assert f"{SHOWN_NAME}:3: " in out
    assert "\\x1b[31mred\\x1b]0;title\\x07" in out
    code, out, _ = run(["rejects", "--db", duckdb_url, "--json"], capsys)
    _safe(out)
    assert json.loads(out)["rejects"][0]["file"].endswith(ESC_NAME)  # exact in JSON


def test_report_from_files_escapes_the_rejects(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["report", "--status", str(hostile)], capsys)
    assert code == 0, err
    _safe(err)
    assert f"{SHOWN_NAME}: skipped " in err


def test_watch_escapes_inbox_file_names(
    duckdb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good\x1b[2J\nforged.csv").write_text(ROWS)
    (inbox / "bad\x1b[31m.csv").write_text("no,header\n")
    code, out, err = run(["watch", "--db", duckdb_url, "--inbox", str(inbox), "--once"], capsys)
    assert code == 1, err  # --once says a file was refused
    _safe(out + err)
    assert "good\\x1b[2J\\nforged.csv: status" in out
    assert "bad\\x1b[31m.csv: failed" in err


def test_error_messages_are_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "zones\x1b[2J.csv"
    path.write_text("store_id,zone\x1b[31m\na,UTC\n")
    code, out, err = run(["report", "--status", str(path)], capsys)
    assert code == 1
    _safe(out + err)
    assert "zones\\x1b[2J.csv" in err
