"""`storemon serve` and `storemon watch` say at start-up what they use: version, address,
database (password redacted) and inbox, in the log format asked for."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO storemon\.\w+: ")


def _first_log_line(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Start ``storemon ARGV``, return its first stderr line, stop it with SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "storemon", *argv],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")},
            **(env or {}),
        },
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    return line.rstrip("\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_logs_what_it_uses_as_json(duckdb_url: str, tmp_path: Path) -> None:
    port = _free_port()
    line = _first_log_line(
        ["serve", "--db", duckdb_url, "--port", str(port), "--log-format", "json"], tmp_path
    )
    entry = json.loads(line)
    assert (entry["level"], entry["logger"]) == ("INFO", "storemon.serve")
    assert entry["message"] == (
        f"storemon 0.1.0 serving http://127.0.0.1:{port}, database {duckdb_url}, "
        f"inbox {tmp_path / 'inbox'} every 3600 s"
    )


@pytest.mark.postgres
def test_watch_logs_the_database_with_its_password_redacted(pg_url: str, tmp_path: Path) -> None:
    with_password = pg_url.replace("postgres@", "postgres:s3cret@", 1)  # trust: not checked
    line = _first_log_line(
        ["watch", "--inbox", str(tmp_path / "in"), "--interval", "60"],
        tmp_path,
        {"STOREMON_DB": with_password},
    )
    assert TEXT_LINE.match(line), line
    assert "s3cret" not in line
    assert f"database {pg_url.replace('postgres@', 'postgres:***@', 1)}, " in line
    assert f"inbox {tmp_path / 'in'} every 60 s" in line
