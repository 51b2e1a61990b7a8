"""Synthetic polls: deterministic, hourly-ish, realistic outages, and readable by read_source."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from storemon import demo_data
from storemon.cli import main
from storemon.generate import demo_polls, generate_polls, polls_csv
from storemon.ingest import read_source
from storemon.schema import POLLS

START = datetime(2023, 1, 18, tzinfo=UTC)
END = datetime(2023, 1, 26, tzinfo=UTC)
STORES = [f"store-{i:04d}" for i in range(1500)]
HOUR_US = 3_600_000_000


@pytest.fixture(scope="module")
def polls() -> pa.Table:
    return generate_polls(STORES, start=START, end=END, seed=7)


def by_store(polls: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(store, instant us, active) sorted by store then time."""
    store = np.asarray(polls.column("store_id").to_pylist(), dtype=object)
    at = np.asarray(polls.column("timestamp_utc").cast(pa.int64()), np.int64)
    active = np.asarray(polls.column("active"), bool)
    order = np.lexsort((at, store))
    return store[order], at[order], active[order]


def test_schema_order_and_period(polls: pa.Table) -> None:
    assert polls.schema == POLLS
    at = np.asarray(polls.column("timestamp_utc").cast(pa.int64()), np.int64)
    assert (np.diff(at) >= 0).all()
    start_us = int(START.timestamp()) * 1_000_000
    end_us = int(END.timestamp()) * 1_000_000
    assert at.min() >= start_us
    assert at.max() < end_us
    assert set(polls.column("store_id").to_pylist()) == set(STORES)


def test_same_seed_same_polls_whatever_the_store_order(polls: pa.Table) -> None:
    again = generate_polls(reversed(STORES), start=START, end=END, seed=7)
    assert again.equals(polls)
    other = generate_polls(STORES, start=START, end=END, seed=8)
    assert not other.equals(polls)


def test_about_hourly_a_few_minutes_past_with_gaps(polls: pa.Table) -> None:
    store, at, _ = by_store(polls)
    minute_of_hour = (at % HOUR_US) / 60e6
    assert minute_of_hour.min() >= 0
    assert minute_of_hour.max() < 15
    same_store = store[1:] == store[:-1]
    hours = at // HOUR_US
    gaps = np.diff(hours)[same_store]
    assert gaps.min() >= 1  # never two checks in one hour
    assert np.median(gaps) == 1
    assert (gaps > 1).any()  # some checks are missing
    polled_share = len(at) / (len(STORES) * (END - START) / timedelta(hours=1))
    assert 0.6 < polled_share < 0.8


def test_inactive_share_and_flaky_minority(polls: pa.Table) -> None:
    store, _, active = by_store(polls)
    assert 0.05 < 1 - active.mean() < 0.12
    _, first, counts = np.unique(store, return_index=True, return_counts=True)
    share = np.add.reduceat((~active).astype(np.int64), first) / counts
    assert np.median(share) < 0.1  # most stores are mostly fine
    assert 0.02 < (share > 0.3).mean() < 0.15  # a few are flaky
    assert (share == 0).mean() > 0.05  # some are never down


def test_outages_last_from_minutes_to_days(polls: pa.Table) -> None:
    store, _, active = by_store(polls)
    # runs of consecutive inactive polls of one store
    boundary = np.concatenate([[True], (store[1:] != store[:-1]) | (active[1:] != active[:-1])])
    run_id = np.cumsum(boundary)
    lengths = np.bincount(run_id[~active])
    lengths = lengths[lengths > 0]
    assert (lengths == 1).mean() > 0.3
    assert lengths.max() >= 24


def test_csv_round_trip_with_zero_rejects(polls: pa.Table) -> None:
    data = polls_csv(polls)
    assert data.startswith(b"store_id,status,timestamp_utc\n")
    first = data.split(b"\n")[1].decode()
    assert first.endswith(" UTC")
    assert len(first.split(",")[2]) == len("2023-01-22 12:09:39.388884 UTC")
    parsed = read_source("status", data)
    assert parsed.rejects.num_rows == 0
    assert parsed.table.equals(polls)


def test_csv_quotes_awkward_store_ids() -> None:
    ids = ["a,b", 'say "hi"', "plain"]
    polls = generate_polls(ids, start=START, end=START + timedelta(hours=6), seed=1)
    parsed = read_source("status", polls_csv(polls))
    assert parsed.rejects.num_rows == 0
    assert parsed.table.equals(polls)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="must be after start"):
        generate_polls(STORES, start=END, end=START)
    with pytest.raises(ValueError, match="no time zone"):
        generate_polls(STORES, start=datetime(2023, 1, 1), end=END)
    with pytest.raises(ValueError, match="miss_rate"):
        generate_polls(STORES, start=START, end=END, miss_rate=1.0)


def test_no_stores_no_polls() -> None:
    empty = generate_polls([], start=START, end=END)
    assert empty.num_rows == 0
    assert empty.schema == POLLS
    assert polls_csv(empty) == b"store_id,status,timestamp_utc\n"


def test_demo_polls_cover_the_bundled_stores_plus_synthetic_ones() -> None:
    polls = demo_polls(extra_stores=3, days=0.5, end=END, seed=1)
    ids = set(polls.column("store_id").to_pylist())
    assert {"synthetic-00001", "synthetic-00002", "synthetic-00003"} <= ids
    hours = read_source("hours", demo_data.hours_path()).table.column("store_id")
    zones = read_source("timezones", demo_data.timezones_path()).table.column("store_id")
    named = set(hours.to_pylist()) | set(zones.to_pylist())
    assert len(named) == 13_584
    # half a day of ~hourly checks reaches nearly every store
    assert len(ids & named) > 0.99 * len(named)
    assert ids - named == {"synthetic-00001", "synthetic-00002", "synthetic-00003"}


def test_demo_polls_from_given_files(tmp_path: Path) -> None:
    hours = tmp_path / "hours.csv"
    hours.write_text("store_id,day,start_time_local,end_time_local\nh1,0,09:00,17:00\n")
    zones = tmp_path / "zones.csv"
    zones.write_text("store_id,timezone_str\nz1,UTC\nbad,Nowhere/Atall\n")
    polls = demo_polls(hours=hours, timezones=zones, days=2, end=END)
    assert set(polls.column("store_id").to_pylist()) == {"h1", "z1"}


def test_cli_writes_a_gzipped_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "polls.csv.gz"
    argv = ["generate", "--days", "0.25", "--stores", "2", "--end", "2023-01-25 18:13 UTC"]
    with pytest.raises(SystemExit) as done:
        main([*argv, "--output", str(target)])
    assert done.value.code == 0
    assert "polls for" in capsys.readouterr().err
    parsed = read_source("status", target)
    assert parsed.rejects.num_rows == 0
    latest = parsed.table.column("timestamp_utc").to_pylist()[-1]
    assert (
        datetime(2023, 1, 25, 12, 13, tzinfo=UTC)
        <= latest
        < datetime(2023, 1, 25, 18, 13, tzinfo=UTC)
    )
    with pytest.raises(SystemExit):
        main([*argv, "--output", str(tmp_path / "again.csv.gz")])
    assert gzip.decompress((tmp_path / "again.csv.gz").read_bytes()) == gzip.decompress(
        target.read_bytes()
    )


def test_cli_writes_to_standard_output(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    zones = tmp_path / "zones.csv"
    zones.write_text("store_id,timezone_str\nz1,UTC\n")
    hours = tmp_path / "hours.csv"
    hours.write_text("store_id,day,start_time_local,end_time_local\n")
    with pytest.raises(SystemExit) as done:
        main(["generate", "--hours", str(hours), "--timezones", str(zones), "--days", "1"])
    assert done.value.code == 0
    parsed = read_source("status", capsysbinary.readouterr().out)
    assert set(parsed.table.column("store_id").to_pylist()) == {"z1"}
    newest = parsed.table.column("timestamp_utc").to_pylist()[-1]
    assert datetime.now(UTC) - newest < timedelta(hours=3)  # --end defaults to now


@pytest.mark.parametrize("given", ["hours", "timezones"])
def test_one_file_alone_gives_polls_to_its_stores_only(
    given: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Not the bundled demo stores as well: the other file does not default to them."""
    path = tmp_path / f"{given}.csv"
    if given == "hours":
        path.write_text("store_id,day,start_time_local,end_time_local\nh1,0,09:00,17:00\n")
    else:
        path.write_text("store_id,timezone_str\nz1,UTC\nz2,Asia/Tokyo\n")
    with pytest.raises(SystemExit) as done:
        main(["generate", f"--{given}", str(path), "--days", "1", "--stores", "1"])
    assert done.value.code == 0
    parsed = read_source("status", capsysbinary.readouterr().out)
    expected = {"h1"} if given == "hours" else {"z1", "z2"}
    assert set(parsed.table.column("store_id").to_pylist()) == expected | {"synthetic-00001"}


def test_with_neither_file_the_bundled_stores_get_polls() -> None:
    end = datetime(2023, 1, 25, tzinfo=UTC)
    polls = demo_polls(days=0.2, end=end, seed=1)
    stores = set(polls.column("store_id").unique().to_pylist())
    assert len(stores) > 13_000  # of the 13,584 demo stores, a few missed every check


def test_cli_rejects_a_bad_end(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["generate", "--end", "tomorrow"])
    assert done.value.code == 2
    assert "cannot read timestamp 'tomorrow'" in capsys.readouterr().err


def test_cli_unwritable_output_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing-dir" / "polls.csv"
    with pytest.raises(SystemExit) as done:
        main(["generate", "--days", "0.1", "--output", str(target)])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"cannot write {target}" in err
    assert "Traceback" not in err


def test_cli_period_before_year_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["generate", "--end", "0001-01-02 00:00", "--days", "8", "--output", "-"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "--days" in err
    assert "0001-01-01" in err


def test_cli_failed_write_keeps_the_previous_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "polls.csv.gz"
    target.write_bytes(b"previous")

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("storemon.cli._files.os.replace", full_disk)
    with pytest.raises(SystemExit) as done:
        main(["generate", "--days", "0.1", "--output", str(target)])
    assert done.value.code == 2
    assert f"cannot write {target}: No space left on device" in capsys.readouterr().err
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["polls.csv.gz"]
