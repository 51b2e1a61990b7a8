"""ingest(): every file read first, then one transaction; summaries and stored rejects."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest

from storemon.errors import FileTooLarge, IngestError, InputError, MissingColumnError, NothingLoaded
from storemon.ingest.progress import ProgressEvent
from storemon.ingest.service import ingest
from storemon.store import IngestBatch, Store

STATUS = (
    b"store_id,status,timestamp_utc\n"
    b"a,active,2023-01-23 10:00:00 UTC\n"
    b"a,inactive,2023-01-23 10:00:00 UTC\n"  # same poll again: the later row wins
    b"b,maybe,2023-01-23 10:00:00 UTC\n"
    b",active,2023-01-23 11:00:00 UTC\n"
    b"b,active,2023-01-23 11:00:00 UTC\n"
)
HOURS = (
    b"store_id,dayOfWeek,start_time_local,end_time_local\na,0,09:00:00,12:00:00\na,9,09:00,10:00\n"
)
ZONES = b"store_id,timezone_str\na,America/New_York\nb,Mars/Olympus\n"


def test_summary_counts_and_first_rejects(store: Store) -> None:
    summary = ingest(
        store,
        {"status": STATUS, "hours": HOURS, "timezones": ZONES},
        names={"status": "status.csv", "hours": "hours.csv", "timezones": "zones.csv"},
    )
    status = summary.sources["status"]
    assert (status.file, status.rows, status.loaded, status.rejected) == ("status.csv", 5, 3, 2)
    assert [line for line, _ in status.first_rejects] == [4, 5]
    assert "maybe" in status.first_rejects[0][1]
    assert (summary.sources["hours"].loaded, summary.sources["hours"].rejected) == (1, 1)
    assert (summary.sources["timezones"].loaded, summary.sources["timezones"].rejected) == (1, 1)
    assert summary.seconds > 0
    assert store.counts() == {"polls": 2, "hours": 1, "timezones": 1, "rejects": 4, "stores": 2}
    polls = store.report_inputs(None).polls.to_pylist()
    assert {(p["store_id"], p["active"]) for p in polls} == {("a", False), ("b", True)}
    stored = store.rejects(limit=10).to_pylist()
    assert {(r["source"], r["file"], r["line"]) for r in stored} == {
        ("status", "status.csv", 4),
        ("status", "status.csv", 5),
        ("hours", "hours.csv", 3),
        ("timezones", "zones.csv", 3),
    }


def test_to_json_is_keyed_by_the_sources_given(store: Store) -> None:
    summary = ingest(store, {"status": STATUS}, names={"status": "s.csv"})
    assert summary.to_json() == {
        "status": {
            "file": "s.csv",
            "rows": 5,
            "loaded": 3,
            "rejected": 2,
            "rejects": [
                {"line": line, "reason": reason}
                for line, reason in summary.sources["status"].first_rejects
            ],
            "warnings": [],
        }
    }


def test_paths_plain_and_gzip(store: Store, tmp_path: Path) -> None:
    plain = tmp_path / "status.csv"
    plain.write_bytes(STATUS)
    packed = tmp_path / "zones.csv.gz"
    packed.write_bytes(gzip.compress(ZONES))
    summary = ingest(store, {"status": plain, "timezones": packed})
    assert summary.sources["status"].file == str(plain)
    assert store.counts()["polls"] == 2
    assert store.counts()["timezones"] == 1


def test_a_refused_file_leaves_the_database_unchanged(store: Store) -> None:
    ingest(store, {"status": STATUS})
    before = (store.counts(), store.data_version())
    bad_zones = b"store_id,zone\na,UTC\n"
    with pytest.raises(MissingColumnError, match="timezone_str") as caught:
        ingest(store, {"status": STATUS, "timezones": bad_zones}, names={"timezones": "z.csv"})
    assert caught.value.file == "z.csv"
    assert (store.counts(), store.data_version()) == before


def test_nothing_or_an_unknown_source_is_an_input_error(store: Store) -> None:
    with pytest.raises(InputError, match="no file given"):
        ingest(store, {})
    with pytest.raises(InputError, match="unknown source"):
        ingest(store, {"menus": b"x"})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "bad",
    [
        b"",  # empty
        b"\xff\xfestore_id",  # UTF-16
        b"PK\x03\x04zip",  # an archive
        b"store_id,status\x00,timestamp_utc\n",  # NUL bytes
        b"\x1f\x8bnot really gzip",  # broken gzip
        b"\nstore_id,timezone_str\n",  # header not on line 1
    ],
)
def test_every_refusal_of_one_file_among_several_leaves_the_database_unchanged(
    store: Store, bad: bytes
) -> None:
    ingest(store, {"status": STATUS, "hours": HOURS, "timezones": ZONES})
    before = (store.counts(), store.data_version(), store.report_inputs(None))
    new_polls = STATUS.replace(b"2023-01-23", b"2023-01-24")
    with pytest.raises(IngestError, match=r"z\.csv"):
        ingest(
            store,
            {"status": new_polls, "hours": HOURS, "timezones": bad},
            names={"timezones": "z.csv"},
        )
    after = (store.counts(), store.data_version(), store.report_inputs(None))
    assert after[:2] == before[:2]
    assert after[2].polls.equals(before[2].polls)


def test_a_store_whose_rows_in_a_later_file_are_all_rejected_keeps_its_old_rows(
    store: Store,
) -> None:
    ingest(
        store,
        {
            "hours": b"store_id,day,start_time_local,end_time_local\n"
            b"a,0,09:00,12:00\nb,1,10:00,11:00\nb,2,10:00,11:00\n",
            "timezones": b"store_id,timezone_str\na,Asia/Tokyo\nb,Europe/Paris\n",
        },
    )
    summary = ingest(
        store,
        {
            "hours": b"store_id,day,start_time_local,end_time_local\n"
            b"a,3,24:00,12:00\nb,4, 08:00 ,09:00\n",  # a: its only row is rejected
            "timezones": b"store_id,timezone_str\na,Asia/Tokio\nb,UTC\nb,Europe/Rome\n",
        },
    )
    assert summary.sources["hours"].rejected == 1
    assert summary.sources["timezones"].rejected == 1
    got = store.report_inputs(None)
    hours = sorted((r["store_id"], r["day_of_week"]) for r in got.hours.to_pylist())
    assert hours == [("a", 0), ("b", 4)]  # a kept its rows, b's were replaced
    zones = {r["store_id"]: r["timezone_str"] for r in got.timezones.to_pylist()}
    assert zones == {"a": "Asia/Tokyo", "b": "Europe/Rome"}  # last valid row wins


# --- streaming, refusals and progress (issues 12, 14, 15) -----------------------------------


def test_a_file_whose_rows_are_all_rejected_stores_nothing(store: Store) -> None:
    ingest(store, {"status": STATUS})
    before = (store.counts(), store.data_version())
    bad = b"store_id,status,timestamp_utc\na,maybe,2023-01-23 10:00:00\nb,x,y\n"
    with pytest.raises(NothingLoaded) as caught:
        ingest(store, {"status": bad, "timezones": ZONES}, names={"status": "bad.csv"})
    error = caught.value
    assert (error.file, error.rejected) == ("bad.csv", 2)
    assert [line for line, _ in error.first_rejects] == [2, 3]
    assert str(error).startswith("bad.csv: nothing loaded, its 2 rows were rejected")
    assert "line 2: unknown status 'maybe'" in str(error)
    assert (store.counts(), store.data_version()) == before  # rejects are not stored either


def test_a_header_only_file_loads_nothing_without_an_error(store: Store) -> None:
    summary = ingest(store, {"status": b"store_id,status,timestamp_utc\n"})
    assert summary.sources["status"].rows == 0
    assert summary.sources["status"].warnings == ["the file has a header but no data rows"]


def test_warnings_reach_the_summary_json(store: Store) -> None:
    packed = gzip.compress(STATUS) + b"junk"
    summary = ingest(store, {"status": packed}, names={"status": "s.csv.gz"})
    assert summary.to_json()["status"]["warnings"] == [  # type: ignore[index]
        "ignored 4 bytes after the end of the gzip data (like gzip -d: trailing garbage)"
    ]


def test_progress_is_reported_per_batch_and_once_per_file_when_stored(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "polls.csv"
    path.write_bytes(STATUS)
    events: list[ProgressEvent] = []
    ingest(store, {"status": path, "timezones": ZONES}, progress=events.append)
    done = [event for event in events if event.done]
    assert [(event.source, event.file) for event in done] == [
        ("status", str(path)),
        ("timezones", "<bytes>"),
    ]
    assert done[0] == ProgressEvent("status", str(path), len(STATUS), len(STATUS), 5, 2, True)
    assert all(not event.done for event in events[: -len(done)])
    assert events[0] == ProgressEvent("status", str(path), 0, len(STATUS), 0, 0, False)  # begins
    assert events[1].rows_read == 5  # after its one batch
    assert [event.source for event in events[:-2]] == ["status", "status", "timezones", "timezones"]


def test_a_file_too_big_for_memory_spills_and_loads_the_same(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.ingest import _batches, _spill

    rows = b"".join(f"s{i},active,2023-01-23 10:00:00\n".encode() for i in range(20_000))
    data = b"store_id,status,timestamp_utc\n" + rows
    monkeypatch.setattr(_spill, "MEMORY_BYTES", 50_000)
    monkeypatch.setattr(_spill, "GATHER_BYTES", 50_000)
    monkeypatch.setattr(_batches, "BATCH_BYTES", 100_000)
    spilled: list[bool] = []
    real_close = _spill.Spill.close

    def close(self: _spill.Spill) -> None:
        spilled.append(self.spilled)
        real_close(self)

    monkeypatch.setattr(_spill.Spill, "close", close)
    batches: list[int] = []
    real_apply = store.apply_ingest

    def apply(batch: IngestBatch) -> None:  # the polls arrive as batches, not one table
        assert batch.polls is not None
        assert not isinstance(batch.polls, pa.Table)
        tables = list(batch.polls)
        batches.extend(table.num_rows for table in tables)
        real_apply(replace(batch, polls=iter(tables)))

    monkeypatch.setattr(store, "apply_ingest", apply)
    summary = ingest(store, {"status": data})
    assert spilled == [True]
    assert len(batches) > 1
    assert sum(batches) == 20_000
    assert summary.sources["status"].loaded == 20_000
    assert store.counts()["polls"] == 20_000


def test_the_files_hash_goes_to_the_ledger(store: Store) -> None:
    ingest(store, {"status": STATUS}, names={"status": "s.csv"})
    assert store.ingested_file("s.csv", hashlib.sha256(STATUS).hexdigest()) is not None
    assert store.ingested_file("s.csv", hashlib.sha256(b"other").hexdigest()) is None


def test_the_text_limit_comes_from_the_setting(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOREMON_MAX_DECOMPRESSED_BYTES", "1024")
    big = STATUS + b"".join(b"c,active,2023-01-23 12:00:00 UTC\n" for _ in range(100))
    with pytest.raises(FileTooLarge, match="1,024 bytes"):
        ingest(store, {"status": big})
    assert ingest(store, {"status": big}, max_decompressed_bytes=1 << 20).sources


def test_a_library_error_in_the_reader_is_an_ingest_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.ingest import csv as csv_module

    def broken(*args: object) -> object:
        raise pa.ArrowInvalid("offset overflow while concatenating arrays")

    monkeypatch.setattr(csv_module._rules, "check", broken)
    with pytest.raises(IngestError) as caught:
        ingest(store, {"status": STATUS}, names={"status": "s.csv"})
    assert str(caught.value).startswith(
        "s.csv: cannot be read: the CSV reader failed (ArrowInvalid"
    )
    assert not isinstance(caught.value.__cause__, IngestError)
    assert store.counts()["polls"] == 0


def test_of_two_refused_files_the_first_error_is_raised_and_nothing_is_left_open(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files are read in the sources' order: the first refused one is raised, and
    every file's rows read so far are released."""
    from storemon.ingest import _spill

    opened: list[_spill.Spill] = []
    closed: list[_spill.Spill] = []
    real_init, real_close = _spill.Spill.__init__, _spill.Spill.close

    def init(self: _spill.Spill, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(self)

    def close(self: _spill.Spill) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(_spill.Spill, "__init__", init)
    monkeypatch.setattr(_spill.Spill, "close", close)
    no_status = b"store_id,timestamp_utc\na,2023-01-23 10:00:00 UTC\n"
    no_day = b"store_id,start_time_local,end_time_local\na,09:00:00,12:00:00\n"
    with pytest.raises(MissingColumnError, match="status"):
        ingest(store, {"status": no_status, "hours": no_day, "timezones": ZONES})
    with pytest.raises(MissingColumnError, match="dayOfWeek"):
        ingest(store, {"status": STATUS, "hours": no_day, "timezones": ZONES})
    assert len(opened) == 3  # the polls; then the polls and the hours (not the zones)
    assert {id(spill) for spill in closed} == {id(spill) for spill in opened}
    assert store.counts()["polls"] == 0
