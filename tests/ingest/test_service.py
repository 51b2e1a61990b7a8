"""ingest(): every file read first, then one transaction; summaries and stored rejects."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from storemon.errors import IngestError, InputError, MissingColumnError
from storemon.ingest.service import ingest
from storemon.store import Store

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
