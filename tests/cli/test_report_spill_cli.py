"""A report from CSV files whose polls do not fit ``STOREMON_CSV_MEMORY_BYTES`` is cut on
disk into ranges of stores computed one at a time: the same bytes and the same messages
as in memory (issue: 100 M polls from files on one machine)."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import run

from storemon.generate import generate_polls
from storemon.ingest import _batches, _spill
from storemon.jobs import file_parts

END = datetime(2023, 1, 25, 18, 0, tzinfo=UTC)
# Ids whose byte order differs from code-point order, that share prefixes, and one a
# spreadsheet would read as a formula: partition boundaries fall between them (an id
# with a NUL byte is a rejected row in a file).
IDS = ["a", "a-", "a0", "ab", "é", "日本", "x,y", "=1", *(f"s{i}" for i in range(30))]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Polls over eight days with a repeated poll (the later row wins) and bad rows,
    hours for some stores (one store's only rows all bad: it falls back to open all
    week), zones for others (one bad)."""
    root = tmp_path_factory.mktemp("spill")
    polls = generate_polls(IDS, start=END - timedelta(days=8), end=END, seed=11)
    rows = [
        [sid, "active" if up else "inactive", ts.strftime("%Y-%m-%d %H:%M:%S.%f UTC")]
        for sid, up, ts in zip(
            polls.column("store_id").to_pylist(),
            polls.column("active").to_pylist(),
            polls.column("timestamp_utc").to_pylist(),
            strict=True,
        )
    ]
    first = rows[0]
    rows.insert(
        len(rows) // 2, [first[0], "inactive" if first[1] == "active" else "active", first[2]]
    )
    rows.insert(7, ["s1", "sleeping", "2023-01-25 10:00:00 UTC"])
    rows.insert(9, ["", "active", "2023-01-25 10:00:00 UTC"])
    status = root / "status.csv"
    with status.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["store_id", "status", "timestamp_utc"])
        writer.writerows(rows)
    hours = root / "hours.csv"
    hour_rows = [[sid, day, "08:00:00", "20:00:00"] for sid in IDS[::3] for day in (0, 2, 5)]
    hour_rows += [["s2", 1, "22:00:00", "02:00:00"], ["s4", 9, "08:00:00", "20:00:00"]]
    with hours.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["store_id", "dayOfWeek", "start_time_local", "end_time_local"])
        writer.writerows(hour_rows)
    zones = root / "zones.csv"
    zone_rows = [
        ["a0", "Australia/Lord_Howe"],
        ["s3", "Asia/Kathmandu"],
        ["日本", "America/St_Johns"],
        ["s5", "Mars/Olympus"],
    ]
    with zones.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["store_id", "timezone_str"])
        writer.writerows(zone_rows)
    return {"status": status, "hours": hours, "timezones": zones}


COMMANDS = [
    ["report"],
    ["report", "--extended", "--windows", "2h,3d", "--unobserved", "exclude"],
    ["report", "--as-of", "2023-01-22 03:30:00"],
    ["outages", "--store", "a-", "--window", "3d"],
    ["outages"],
    ["outages", "--store", "日本"],
    ["profile"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_spilled_files_give_the_bytes_of_memory(
    files: dict[str, Path],
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [*command, *(f"--{name}={path}" for name, path in files.items())]
    code, in_memory, said = run(argv, capsys)
    assert code == 0, said
    assert "ranges of stores" not in said
    assert (
        "status.csv: skipped 2 bad rows of" in said
    )  # the fixture's bad rows are there to be said

    monkeypatch.setenv("STOREMON_CSV_MEMORY_BYTES", "0")  # every poll past memory
    monkeypatch.setattr(file_parts, "PART_POLLS", 500)  # several ranges
    monkeypatch.setattr(_batches, "BATCH_BYTES", 40_000)  # a store's rows in several
    monkeypatch.setattr(_spill, "GATHER_BYTES", 20_000)  # tables, the repeat in another
    code, spilled, said_spilled = run(argv, capsys)
    assert code == 0, said_spilled
    assert spilled == in_memory
    note = [line for line in said_spilled.splitlines() if "ranges of stores" in line]
    if "--store" in command:  # one store's polls are picked out as they are read back
        assert note == []
    else:
        assert len(note) == 1
        cut = re.search(r"in ([\d,]+) ranges of stores", note[0])
        assert cut is not None, note[0]
        assert int(cut[1].replace(",", "")) > 1
    # Everything else said on stderr (rejects, warnings, the as_of line) is the same.
    assert [line for line in said_spilled.splitlines() if line not in note] == said.splitlines()


def test_an_unknown_store_is_a_usage_error_when_spilled_too(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STOREMON_CSV_MEMORY_BYTES", "0")
    argv = ["outages", "--store", "nope", *(f"--{n}={p}" for n, p in files.items())]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "nope" in err
