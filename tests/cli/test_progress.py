"""Ingest progress: a bar redrawn in place on a terminal, throttled lines when piped."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cli_helpers import run

from storemon.cli._progress import FileEvent, IngestProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _batches(progress: IngestProgress, clock: Clock, name: str = "polls.csv") -> None:
    """A 100 MB file in ten batches two seconds apart, then done."""
    progress(FileEvent("status", name, 0, 100_000_000, 0, 0, done=False))
    for batch in range(1, 11):
        clock.now += 2
        progress(
            FileEvent(
                "status", name, batch * 10_000_000, 100_000_000, batch * 1000, batch, done=False
            )
        )
    progress(FileEvent("status", name, 100_000_000, 100_000_000, 10_000, 10, done=True))


def test_piped_lines_come_every_few_seconds_and_at_the_end() -> None:
    stream, clock = io.StringIO(), Clock()
    _batches(IngestProgress(stream, terminal=False, every_seconds=5, clock=clock), clock)
    assert stream.getvalue().splitlines() == [
        "status: polls.csv: 30% of 30.0/100.0 MB, 3,000 rows read, 2,997 valid, 3 rejected",
        "status: polls.csv: 60% of 60.0/100.0 MB, 6,000 rows read, 5,994 valid, 6 rejected",
        "status: polls.csv: 90% of 90.0/100.0 MB, 9,000 rows read, 8,991 valid, 9 rejected",
        "status: polls.csv: 10,000 rows read, 9,990 valid, 10 rejected, done",
    ]


def test_a_quick_file_prints_nothing_when_piped() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = IngestProgress(stream, terminal=False, every_seconds=5, clock=clock)
    progress(FileEvent("hours", "hours.csv", 0, 1000, 0, 0, done=False))
    clock.now += 0.5
    progress(FileEvent("hours", "hours.csv", 1000, 1000, 10, 0, done=True))
    assert stream.getvalue() == ""
    _batches(progress, clock, "next.csv")  # the next file is timed on its own
    assert stream.getvalue().startswith("status: next.csv: 30% of")


def test_terminal_bar_is_redrawn_in_place_and_erased_when_done() -> None:
    stream, clock = io.StringIO(), Clock()
    _batches(IngestProgress(stream, terminal=True, clock=clock), clock)
    text = stream.getvalue()
    assert "\n" not in text
    frames = text.split("\r\x1b[K")[1:]
    assert frames[0] == "status: polls.csv: reading (100.0 MB) ..."
    assert frames[5] == (
        "status: polls.csv: [############------------]  50% 50.0/100.0 MB, "
        "5,000 rows read, 4,995 valid, 5 rejected"
    )
    assert frames[-1] == ""  # erased: the command's summary follows


def test_close_ends_an_open_bar_and_names_are_escaped() -> None:
    stream = io.StringIO()
    progress = IngestProgress(stream, terminal=True)
    progress(FileEvent("status", "a\x1b[2J\n.csv", 0, None, 0, 0, done=False))
    progress.close()
    assert stream.getvalue() == "\r\x1b[Kstatus: a\\x1b[2J\\n.csv: reading ...\n"


def test_quiet_and_json_show_no_progress(
    duckdb_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = tmp_path / "status.csv"
    status.write_text("store_id,status,timestamp_utc\na,active,2023-01-23 10:00:00 UTC\n")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    code, _, err = run(["ingest", "--db", duckdb_url, "--status", str(status)], capsys)
    assert code == 0
    assert f"status: {status}: reading" in err  # on a terminal
    for flag in ("--quiet", "-q", "--json"):
        code, _, err = run(["ingest", "--db", duckdb_url, "--status", str(status), flag], capsys)
        assert code == 0
        assert "reading" not in err, flag
