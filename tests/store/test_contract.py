"""The Store contract, run against DuckDB and PostgreSQL alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from pg_sessions import terminate_sessions
from storemon import schema
from storemon.engine import compute_report, report_csv
from storemon.errors import ConfigError, IngestError, InvalidRequest, ReportNotFound, StoreError
from storemon.store import IngestBatch, JobRecord, Store, open_store
from storemon.store.migrations import SCHEMA_VERSION

if TYPE_CHECKING:
    from conftest import Tables


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(tuple(row.values()) for row in table.to_pylist())


def _as_text(polls: pa.Table) -> pa.Table:
    """Report-input polls with ``store_id`` cast to text, after checking it is dictionary-typed."""
    field = polls.schema.field("store_id")
    assert field.type == pa.dictionary(pa.int32(), pa.string())
    assert not field.nullable
    text = polls.column("store_id").cast(pa.string())
    return polls.set_column(0, pa.field("store_id", pa.string(), nullable=False), text)


def _polls(store: Store) -> list[tuple[object, ...]]:
    # every poll: test data spans < 7 days
    return _rows(_as_text(store.report_inputs(None).polls))


def _hours(store: Store) -> list[tuple[object, ...]]:
    return _rows(store.report_inputs(None).hours)


def _zones(store: Store) -> dict[object, object]:
    return dict(_rows(store.report_inputs(None).timezones))  # type: ignore[arg-type]


def _codes(store: Store) -> dict[str, int]:
    """The stores table, id -> code."""
    rows = store.execute_sql("SELECT store_id, code FROM stores")
    return {str(store_id): int(code) for store_id, code in rows}  # type: ignore[call-overload]


@contextmanager
def _timezones_away(store: Store) -> Iterator[None]:
    """The timezones table renamed: an ingest fails at its timezones, after its polls
    and hours are written (the database refuses the statement)."""
    store.execute_sql("ALTER TABLE timezones RENAME TO timezones_away")
    try:
        yield
    finally:
        store.execute_sql("ALTER TABLE timezones_away RENAME TO timezones")


def test_empty_store(store: Store) -> None:
    assert store.counts() == {"polls": 0, "hours": 0, "timezones": 0, "rejects": 0, "stores": 0}
    assert store.latest_poll_utc() is None
    inputs = store.report_inputs(None)
    assert inputs.as_of is None
    assert _as_text(inputs.polls).schema == schema.POLLS
    assert inputs.hours.schema == schema.HOURS
    assert inputs.timezones.schema == schema.TIMEZONES
    assert inputs.polls.num_rows == 0


def test_polls_last_row_wins_within_a_batch_and_over_ingests(
    store: Store, tables: type[Tables]
) -> None:
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(
                [
                    ("a", "2023-01-23 10:00", True),
                    ("a", "2023-01-23 10:00", False),  # same instant, later row wins
                    ("b", "2023-01-23 10:00", True),
                    ("a", "2023-01-23 11:00", True),
                ]
            )
        )
    )
    assert _polls(store) == [
        ("a", utc("2023-01-23 10:00"), False),
        ("a", utc("2023-01-23 11:00"), True),
        ("b", utc("2023-01-23 10:00"), True),
    ]
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(
                [
                    ("a", "2023-01-23 10:00", True),  # changed by a later ingest
                    ("b", "2023-01-23 10:00", True),  # unchanged
                    ("b", "2023-01-23 12:30:15.123456", False),  # new
                ]
            )
        )
    )
    assert _polls(store) == [
        ("a", utc("2023-01-23 10:00"), True),
        ("a", utc("2023-01-23 11:00"), True),
        ("b", utc("2023-01-23 10:00"), True),
        ("b", utc("2023-01-23 12:30:15.123456"), False),
    ]
    assert store.counts()["polls"] == 4
    assert store.counts()["stores"] == 2
    assert store.latest_poll_utc() == utc("2023-01-23 12:30:15.123456")


def test_store_ids_are_opaque_strings(store: Store, tables: type[Tables]) -> None:
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(
                [("0042", "2023-01-23 10:00", True), ("42", "2023-01-23 10:00", False)]
            )
        )
    )
    assert [row[0] for row in _polls(store)] == ["0042", "42"]


def test_reingesting_the_same_batch_changes_nothing_but_the_version(
    store: Store, tables: type[Tables]
) -> None:
    batch = IngestBatch(
        polls=tables.polls([("a", "2023-01-23 10:00", True), ("b", "2023-01-23 10:05", False)]),
        hours=tables.hours([("a", 0, "09:00", "12:00"), ("a", 0, "13:00", "17:00")]),
        timezones=tables.timezones([("a", "America/New_York")]),
    )
    store.apply_ingest(batch)
    before = (_polls(store), _hours(store), _zones(store), store.counts())
    version = store.data_version()
    store.apply_ingest(batch)
    assert (_polls(store), _hours(store), _zones(store), store.counts()) == before
    assert store.data_version() != version


def test_hours_replace_every_row_of_the_stores_in_the_batch(
    store: Store, tables: type[Tables]
) -> None:
    store.apply_ingest(
        IngestBatch(
            hours=tables.hours(
                [("a", 0, "09:00", "12:00"), ("a", 1, "09:00", "12:00"), ("b", 2, "10:00", "11:00")]
            )
        )
    )
    store.apply_ingest(IngestBatch(hours=tables.hours([("a", 4, "22:00", "02:00")])))
    hour = 3600 * schema.US_PER_SECOND
    assert _hours(store) == [("a", 4, 22 * hour, 2 * hour), ("b", 2, 10 * hour, 11 * hour)]
    store.apply_ingest(IngestBatch(hours=tables.hours([("b", 6, "00:00", "24:00")])))
    assert _hours(store) == [("a", 4, 22 * hour, 2 * hour), ("b", 6, 0, schema.US_PER_DAY)]


def test_timezones_last_row_wins_and_replace_per_store(store: Store, tables: type[Tables]) -> None:
    store.apply_ingest(
        IngestBatch(
            timezones=tables.timezones(
                [("a", "America/Chicago"), ("b", "Asia/Beirut"), ("a", "America/New_York")]
            )
        )
    )
    assert _zones(store) == {"a": "America/New_York", "b": "Asia/Beirut"}
    store.apply_ingest(IngestBatch(timezones=tables.timezones([("b", "Europe/Paris")])))
    assert _zones(store) == {"a": "America/New_York", "b": "Europe/Paris"}
    assert store.counts()["timezones"] == 2


def _batch_failing_late(tables: type[Tables]) -> IngestBatch:
    return IngestBatch(
        polls=tables.polls([("a", "2023-01-23 10:00", False), ("c", "2023-01-23 11:00", True)]),
        hours=tables.hours([("a", 0, "09:00", "12:00")]),
        timezones=tables.timezones([("a", "Asia/Tokyo")]),
        rejects=tables.rejects([("status", "s.csv", 3, "bad", "x")]),
    )


def _assert_unchanged(store: Store, version: int) -> None:
    assert _polls(store) == [("a", utc("2023-01-23 10:00"), True)]
    assert store.counts() == {"polls": 1, "hours": 0, "timezones": 0, "rejects": 0, "stores": 1}
    assert store.data_version() == version
    assert store.latest_poll_utc() == utc("2023-01-23 10:00")


def test_a_batch_failing_in_the_database_changes_nothing(
    store: Store, tables: type[Tables]
) -> None:
    store.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
    version = store.data_version()
    with _timezones_away(store), pytest.raises(StoreError):
        store.apply_ingest(_batch_failing_late(tables))
    _assert_unchanged(store, version)
    assert _codes(store) == {"a": 0}  # the new store's code went with the transaction
    store.apply_ingest(_batch_failing_late(tables))  # the store is usable afterwards
    assert store.counts()["polls"] == 2
    assert _codes(store) == {"a": 0, "c": 1}


def test_a_malformed_batch_is_refused_before_writing(store: Store, tables: type[Tables]) -> None:
    store.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
    version = store.data_version()
    bad_zones = pa.table({"store_id": pa.array([None], pa.string()), "timezone_str": ["UTC"]})
    batch = IngestBatch(polls=_batch_failing_late(tables).polls, timezones=bad_zones)
    with pytest.raises(StoreError, match="timezones table"):
        store.apply_ingest(batch)
    _assert_unchanged(store, version)


def test_report_inputs_window(store: Store, tables: type[Tables]) -> None:
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(
                [
                    ("a", "2023-01-10 00:00", False),
                    ("a", "2023-01-15 23:00", True),  # a's last at or before as_of - 7 d
                    ("a", "2023-01-16 00:00:00.000001", False),  # just inside the window
                    ("a", "2023-01-23 00:00", True),  # == as_of: inside
                    ("a", "2023-01-23 00:00:00.000001", False),  # after as_of: excluded
                    ("b", "2023-01-16 00:00", True),  # == as_of - 7 d: the last before
                    ("c", "2023-01-24 00:00", True),  # only after as_of: excluded
                ]
            ),
            hours=tables.hours([("a", 0, "09:00", "12:00")]),
            timezones=tables.timezones([("c", "Asia/Tokyo")]),
        )
    )
    inputs = store.report_inputs(utc("2023-01-23 00:00"))
    assert inputs.as_of == utc("2023-01-23 00:00")
    assert _as_text(inputs.polls).schema == schema.POLLS
    assert _rows(_as_text(inputs.polls)) == [
        ("a", utc("2023-01-15 23:00"), True),
        ("a", utc("2023-01-16 00:00:00.000001"), False),
        ("a", utc("2023-01-23 00:00"), True),
        ("b", utc("2023-01-16 00:00"), True),
    ]
    assert inputs.hours.num_rows == 1
    assert inputs.timezones.num_rows == 1  # all zones, even for stores without polls

    latest = store.report_inputs(None)
    assert latest.as_of == utc("2023-01-24 00:00")
    assert latest.as_of.tzinfo is not None
    assert latest.polls.num_rows == 5  # 2023-01-17 .. 2023-01-24 plus a's and b's last before


def test_report_inputs_accepts_an_aware_as_of_in_any_zone(
    store: Store, tables: type[Tables]
) -> None:
    store.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
    eastern = datetime(2023, 1, 23, 5, 0, tzinfo=timezone(timedelta(hours=-5)))
    inputs = store.report_inputs(eastern)
    assert inputs.as_of == utc("2023-01-23 10:00")
    assert inputs.polls.num_rows == 1


def test_store_codes_are_given_once_in_byte_order_and_kept_across_ingests(
    store: Store, tables: type[Tables]
) -> None:
    batch = IngestBatch(
        polls=tables.polls(
            [
                ("b", "2023-01-23 10:00", True),
                ("é", "2023-01-23 10:00", True),
                ("a", "2023-01-23 10:00", False),
                ("0042", "2023-01-23 11:00", True),
                ("a", "2023-01-23 11:00", True),
            ]
        )
    )
    store.apply_ingest(batch)
    codes = _codes(store)
    assert codes == {"0042": 0, "a": 1, "b": 2, "é": 3}  # from 0, in byte order of the id
    before = (_polls(store), store.counts(), store.latest_poll_utc())
    version = store.data_version()
    store.apply_ingest(batch)  # the same file again: writes nothing
    assert _codes(store) == codes
    assert (_polls(store), store.counts(), store.latest_poll_utc()) == before
    assert store.data_version() != version  # as for every ingest with data rows
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(
                [
                    ("z", "2023-01-23 12:00", True),
                    ("a", "2023-01-23 12:00", False),
                    ("c", "2023-01-23 12:00", True),
                ]
            )
        )
    )
    assert _codes(store) == {**codes, "c": 4, "z": 5}  # known ids keep theirs
    assert store.counts()["stores"] == 6
    assert ("a", utc("2023-01-23 12:00"), False) in _polls(store)


def test_store_codes_running_out_is_a_clear_error_that_changes_nothing(
    store: Store, tables: type[Tables]
) -> None:
    store.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
    # As if 2^31 - 1 ids had been coded: the next new id gets the last code there is.
    store.execute_sql("INSERT INTO stores VALUES (2147483646, 'b')")
    store.apply_ingest(IngestBatch(polls=tables.polls([("c", "2023-01-23 10:00", True)])))
    assert _codes(store)["c"] == 2**31 - 1
    before = (store.counts(), store.data_version(), _codes(store))
    batch = IngestBatch(
        polls=tables.polls([("a", "2023-01-23 11:00", True), ("d", "2023-01-23 11:00", True)])
    )
    with pytest.raises(
        StoreError, match=r"of 1 new store id: store codes are 32-bit .* 0 more ids fit"
    ):
        store.apply_ingest(batch)
    assert (store.counts(), store.data_version(), _codes(store)) == before
    # Batches of known ids still go in.
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls([("a", "2023-01-23 11:00", False), ("c", "2023-01-23 11:00", True)])
        )
    )
    assert store.counts()["polls"] == 4
    assert ("c", utc("2023-01-23 11:00"), True) in _polls(store)


def test_polls_in_several_chunks_are_coded_like_one(store: Store, tables: type[Tables]) -> None:
    first = tables.polls([("b", "2023-01-23 10:00", True), ("a", "2023-01-23 10:00", False)])
    second = tables.polls([("c", "2023-01-23 10:00", True), ("b", "2023-01-23 10:00", False)])
    polls = pa.concat_tables([first, second])
    assert polls.column("store_id").num_chunks == 2
    store.apply_ingest(IngestBatch(polls=polls))
    assert _polls(store) == [
        ("a", utc("2023-01-23 10:00"), False),
        ("b", utc("2023-01-23 10:00"), False),  # the later row wins across chunks
        ("c", utc("2023-01-23 10:00"), True),
    ]
    assert _codes(store) == {"a": 0, "b": 1, "c": 2}


def test_a_store_whose_polls_are_all_before_the_window_keeps_its_last(
    store: Store, tables: type[Tables]
) -> None:
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(
                [
                    ("old", "2022-12-01 08:00", True),
                    ("old", "2022-12-20 09:00", False),  # old's last, a month before as_of
                    ("new", "2023-01-10 10:00", True),  # new's last before the window
                    ("new", "2023-01-09 10:00", False),
                    ("new", "2023-01-22 10:00", True),
                    ("later", "2023-01-24 10:00", True),  # only after as_of
                ]
            )
        )
    )
    inputs = store.report_inputs(utc("2023-01-23 00:00"))
    assert _rows(_as_text(inputs.polls)) == [
        ("new", utc("2023-01-10 10:00"), True),
        ("new", utc("2023-01-22 10:00"), True),
        ("old", utc("2022-12-20 09:00"), False),
    ]
    report = compute_report(inputs.polls, inputs.hours, inputs.timezones, as_of=inputs.as_of)
    assert report.table.column("store_id").to_pylist() == ["new", "old"]
    assert report.table.column("downtime_last_week").to_pylist()[1] == 168.0


def test_report_inputs_of_ids_that_need_quoting_or_are_unicode(
    store: Store, tables: type[Tables]
) -> None:
    ids = ["0042", "42", "042", "a,b", 'q"uote', "new\nline", "ünï €", "日本", "x" * 300, "Z"]
    start = utc("2023-01-20 00:00")
    rows = [
        (store_id, start + timedelta(hours=3 * k + i), (i + k) % 3 != 0)
        for i, store_id in enumerate(ids)
        for k in range(4)
    ]
    store.apply_ingest(IngestBatch(polls=tables.polls(rows[: len(rows) // 2])))
    store.apply_ingest(IngestBatch(polls=tables.polls(rows[len(rows) // 2 :])))  # more new ids
    inputs = store.report_inputs(None)
    assert _rows(_as_text(inputs.polls)) == sorted(rows)
    column = inputs.polls.column("store_id").combine_chunks()
    assert sorted(column.dictionary.to_pylist()) == sorted(ids)  # each id once
    assert sorted(_codes(store).values()) == list(range(len(ids)))
    text = _as_text(inputs.polls)
    assert report_csv(
        compute_report(inputs.polls, inputs.hours, inputs.timezones).table
    ) == report_csv(compute_report(text, inputs.hours, inputs.timezones).table)


def test_rejects_are_appended_with_ingest_time(store: Store, tables: type[Tables]) -> None:
    store.apply_ingest(
        IngestBatch(
            rejects=tables.rejects(
                [
                    ("status", "s.csv", 7, "unknown status 'maybe'", "a,maybe,2023-01-01"),
                    ("status", "s.csv", 3, "empty store_id", ",active,2023-01-01"),
                ]
            ),
            files={"status": "s.csv"},
        )
    )
    store.apply_ingest(
        IngestBatch(rejects=tables.rejects([("hours", "h.csv", 2, "day 9 outside 0-6", "a,9")]))
    )
    listed = store.rejects()
    assert listed.column_names == [
        "source",
        "file",
        "line",
        "reason",
        "raw",
        "store_id",
        "ingested_at",
    ]
    assert listed.column("store_id").null_count == 3  # the writer gave none
    assert listed.column("line").to_pylist() == [2, 3, 7]  # newest ingest first, then line
    assert listed.column("source").to_pylist() == ["hours", "status", "status"]
    assert listed.schema.field("ingested_at").type == pa.timestamp("us", tz="UTC")
    assert store.rejects(source="status", limit=1).column("line").to_pylist() == [3]
    assert store.rejects(source="status", limit=5, offset=1).column("line").to_pylist() == [7]
    assert store.rejects(source="timezones").num_rows == 0
    assert store.counts()["rejects"] == 3


def _with_store_ids(rejects: pa.Table, store_ids: list[str | None]) -> pa.Table:
    if "store_id" in rejects.column_names:
        rejects = rejects.drop_columns(["store_id"])
    return rejects.append_column(
        pa.field("store_id", pa.string(), nullable=True), pa.array(store_ids, pa.string())
    )


def test_rejects_keep_the_store_id_and_filter_by_file(store: Store, tables: type[Tables]) -> None:
    first = tables.rejects(
        [
            ("status", "a.csv", 2, "unknown status 'maybe'", "s1,maybe,2023-01-01"),
            ("status", "a.csv", 3, "empty store_id", ",active,2023-01-01"),
        ]
    )
    store.apply_ingest(IngestBatch(rejects=_with_store_ids(first, ["s1", None])))
    second = tables.rejects([("status", "b.csv", 5, "bad time", "s2,active,x")])
    store.apply_ingest(IngestBatch(rejects=_with_store_ids(second, ["s2"])))
    assert store.rejects().column("store_id").to_pylist() == ["s2", "s1", None]
    in_a = store.rejects(file="a.csv")
    assert in_a.column("line").to_pylist() == [2, 3]
    assert in_a.column("store_id").to_pylist() == ["s1", None]
    assert store.rejects(file="b.csv", source="status").column("line").to_pylist() == [5]
    assert store.rejects(file="b.csv", source="hours").num_rows == 0
    assert store.rejects(file="c.csv").num_rows == 0
    assert store.rejects(file="a.csv", limit=1, offset=1).column("line").to_pylist() == [3]


_HASH = "ab" * 32


def test_the_ledger_of_ingested_files_is_written_with_the_ingest(
    store: Store, tables: type[Tables]
) -> None:
    assert store.ingested_file("s.csv", _HASH) is None
    before = datetime.now(UTC)
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls([("a", "2023-01-23 10:00", True)]),
            files={"status": "s.csv", "hours": "h.csv"},
            file_hashes={"status": _HASH},
        )
    )
    when = store.ingested_file("s.csv", _HASH)
    assert when is not None
    assert when.tzinfo is not None
    assert before - timedelta(seconds=5) <= when <= datetime.now(UTC) + timedelta(seconds=5)
    assert store.ingested_file("s.csv", "cd" * 32) is None  # other contents
    assert store.ingested_file("other.csv", _HASH) is None  # other name
    assert store.ingested_file("h.csv", _HASH) is None  # no hash given for it

    # An ingest that fails in the database records no file.
    with _timezones_away(store), pytest.raises(StoreError):
        store.apply_ingest(
            IngestBatch(
                timezones=tables.timezones([("a", "Asia/Tokyo")]),
                files={"timezones": "z.csv"},
                file_hashes={"timezones": _HASH},
            )
        )
    assert store.ingested_file("z.csv", _HASH) is None


@pytest.mark.parametrize(
    ("files", "hashes", "message"),
    [
        ({}, {"status": _HASH}, "no file name"),
        ({"status": "s.csv"}, {"status": "AB" * 32}, "64 lower-case hex"),
        ({"status": "s.csv"}, {"status": "ab"}, "64 lower-case hex"),
    ],
)
def test_a_bad_file_hash_is_refused_before_writing(
    store: Store, files: dict[str, str], hashes: dict[str, str], message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.apply_ingest(IngestBatch(files=files, file_hashes=hashes))  # type: ignore[arg-type]
    assert store.counts()["rejects"] == 0


def test_report_inputs_read_as_far_back_as_asked(store: Store, tables: type[Tables]) -> None:
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(
                [
                    ("a", "2022-12-01 00:00", True),  # a's last before a 30-day window
                    ("a", "2022-12-24 00:00:00.000001", False),  # inside 30 days
                    ("a", "2023-01-10 00:00", True),  # inside 30 days, before 7
                    ("a", "2023-01-20 00:00", False),  # inside both
                ]
            )
        )
    )
    as_of = utc("2023-01-23 00:00")
    month = store.report_inputs(as_of, lookback=timedelta(days=30))
    assert [row[1] for row in _rows(_as_text(month.polls))] == [
        utc("2022-12-01 00:00"),
        utc("2022-12-24 00:00:00.000001"),
        utc("2023-01-10 00:00"),
        utc("2023-01-20 00:00"),
    ]
    week = store.report_inputs(as_of)  # the default: 7 days
    assert [row[1] for row in _rows(_as_text(week.polls))] == [
        utc("2023-01-10 00:00"),
        utc("2023-01-20 00:00"),
    ]
    year = store.report_inputs(as_of, lookback=timedelta(days=367))
    assert year.polls.num_rows == 4
    for bad in (timedelta(0), timedelta(days=-1), timedelta(days=367, microseconds=1)):
        with pytest.raises(InvalidRequest, match="367 days"):
            store.report_inputs(as_of, lookback=bad)


def test_data_version_changes_on_every_ingest(store: Store, tables: type[Tables]) -> None:
    seen = {store.data_version()}
    for _ in range(3):
        store.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
        seen.add(store.data_version())
    assert len(seen) == 4


def test_data_version_stays_when_a_batch_holds_only_rejects(
    store: Store, tables: type[Tables]
) -> None:
    # Rejects change no report: an all-rejected file must not end report-job reuse.
    before = store.data_version()
    store.apply_ingest(
        IngestBatch(
            rejects=tables.rejects([("status", "s.csv", 2, "empty store_id", ",active,x")]),
            files={"status": "s.csv"},
        )
    )
    store.apply_ingest(IngestBatch(polls=tables.polls([])))  # empty tables: no rows
    assert store.data_version() == before
    assert store.counts()["rejects"] == 1
    store.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
    assert store.data_version() != before


def _job(job_id: str, created: str, **fields: object) -> JobRecord:
    base: dict[str, object] = {
        "id": job_id,
        "status": "queued",
        "interpolation": "nearest",
        "as_of_requested": None,
        "data_version": 1,
        "created_at": utc(created),
    }
    base.update(fields)
    return JobRecord(**base)  # type: ignore[arg-type]


def test_job_lifecycle(store: Store) -> None:
    as_of = utc("2023-01-25 12:00")
    job = _job("j1", "2024-01-01 00:00:00.5", as_of_requested=as_of)
    store.insert_job(job)
    assert store.get_job("j1") == job
    assert store.get_job("nope") is None
    assert store.unfinished_jobs() == [job]
    assert store.job_result("j1") is None

    store.mark_running("j1", started_at=utc("2024-01-01 00:00:01"))
    running = store.get_job("j1")
    assert running is not None
    assert running.status == "running"
    assert running.started_at == utc("2024-01-01 00:00:01")
    assert running.attempts == 1
    assert store.job_result("j1") is None

    csv = b"store_id,uptime_last_hour\n\xe2\x82\xac,1.00\n"
    store.mark_complete(
        "j1",
        finished_at=utc("2024-01-01 00:00:02"),
        as_of_used=as_of,
        row_count=1,
        csv=csv,
    )
    done = store.get_job("j1")
    assert done == JobRecord(
        id="j1",
        status="complete",
        interpolation="nearest",
        as_of_requested=as_of,
        data_version=1,
        created_at=utc("2024-01-01 00:00:00.5"),
        started_at=utc("2024-01-01 00:00:01"),
        finished_at=utc("2024-01-01 00:00:02"),
        as_of_used=as_of,
        row_count=1,
        error=None,
        attempts=1,
    )
    assert done.created_at.tzinfo is not None
    assert store.job_result("j1") == csv
    assert store.unfinished_jobs() == []

    store.insert_job(_job("j2", "2024-01-01 00:01"))
    store.mark_failed("j2", finished_at=utc("2024-01-01 00:01:05"), error="engine exploded")
    failed = store.get_job("j2")
    assert failed is not None
    assert (failed.status, failed.error) == ("failed", "engine exploded")
    assert store.job_result("j2") is None
    assert [j.id for j in store.list_jobs()] == ["j2", "j1"]
    assert [j.id for j in store.list_jobs(limit=1)] == ["j2"]


def test_results_are_stored_compressed_and_older_plain_ones_still_read(store: Store) -> None:
    import gzip

    csv = b"store_id,uptime_last_hour\n" + b"".join(
        b"store-%d,%d.00\n" % (n, n % 61) for n in range(20_000)
    )
    for job_id in ("new", "old"):
        store.insert_job(_job(job_id, "2024-01-01 00:00"))
        store.mark_complete(
            job_id, finished_at=utc("2024-01-01 00:01"), as_of_used=None, row_count=0, csv=csv
        )
    ((stored, encoding),) = store.execute_sql(
        "SELECT csv, encoding FROM job_results WHERE job_id = 'new'"
    )
    assert encoding == "gzip"
    assert len(stored) < len(csv) / 3
    assert gzip.decompress(bytes(stored)) == csv
    assert store.job_result("new") == csv
    # A result stored before migration 6 (plain bytes, 'identity') reads as it is.
    plain = "store_id\nplain\n"
    to_bytes = "convert_to('{}', 'UTF8')" if store.url.startswith("postgres") else "encode('{}')"
    store.execute_sql(
        f"UPDATE job_results SET csv = {to_bytes.format(plain)}, encoding = 'identity'"
        " WHERE job_id = 'old'"
    )
    assert store.job_result("old") == plain.encode()
    store.execute_sql("UPDATE job_results SET encoding = 'brotli' WHERE job_id = 'old'")
    with pytest.raises(StoreError, match="unknown encoding 'brotli'"):
        store.job_result("old")


def test_options_and_summary_are_kept_and_options_must_match_to_reuse(store: Store) -> None:
    options = '{"extended":true,"windows":["30d"]}'
    store.insert_job(_job("plain", "2024-01-01 00:00"))
    store.insert_job(_job("wide", "2024-01-01 00:01", options=options))
    assert store.get_job("plain").options == "{}"  # type: ignore[union-attr]
    assert store.get_job("wide").options == options  # type: ignore[union-attr]

    def find(given: str) -> str | None:
        job = store.find_reusable_job(
            as_of_requested=None, interpolation="nearest", data_version=1, options=given
        )
        return None if job is None else job.id

    assert find("{}") == "plain"
    assert find(options) == "wide"
    assert find('{"windows":["30d"],"extended":true}') is None  # compared as strings
    assert store.find_reusable_job(
        as_of_requested=None, interpolation="nearest", data_version=1
    ) == store.get_job("plain")  # the default options are "{}"

    store.mark_running("wide", started_at=utc("2024-01-01 00:02"))
    summary = '{"warnings":["no poll before as_of"]}'
    store.mark_complete(
        "wide",
        finished_at=utc("2024-01-01 00:03"),
        as_of_used=None,
        row_count=0,
        csv=b"",
        summary=summary,
    )
    done = store.get_job("wide")
    assert done is not None
    assert (done.status, done.summary, done.options) == ("complete", summary, options)
    assert store.get_job("plain").summary is None  # type: ignore[union-attr]


def test_job_counts_has_every_status(store: Store) -> None:
    assert store.job_counts() == {"queued": 0, "running": 0, "complete": 0, "failed": 0}
    for index in range(4):
        store.insert_job(_job(f"j{index}", f"2024-01-01 00:0{index}"))
    store.mark_running("j1", started_at=utc("2024-01-01 00:05"))
    store.mark_running("j2", started_at=utc("2024-01-01 00:05"))
    store.mark_failed("j2", finished_at=utc("2024-01-01 00:06"), error="x")
    store.mark_complete(
        "j3", finished_at=utc("2024-01-01 00:06"), as_of_used=None, row_count=0, csv=b""
    )
    assert store.job_counts() == {"queued": 1, "running": 1, "complete": 1, "failed": 1}


def test_find_reusable_job(store: Store) -> None:
    as_of = utc("2023-01-25 12:00")
    store.insert_job(_job("old", "2024-01-01 00:00", as_of_requested=as_of))
    store.insert_job(_job("latest-none", "2024-01-01 00:01"))
    store.insert_job(_job("failed", "2024-01-01 00:02", as_of_requested=as_of))
    store.mark_failed("failed", finished_at=utc("2024-01-01 00:03"), error="x")

    def find(
        as_of_requested: datetime | None, interpolation: str = "nearest", version: int = 1
    ) -> str | None:
        job = store.find_reusable_job(
            as_of_requested=as_of_requested,
            interpolation=interpolation,  # type: ignore[arg-type]
            data_version=version,
        )
        return None if job is None else job.id

    assert find(as_of) == "old"
    assert find(None) == "latest-none"
    assert find(as_of, "previous") is None
    assert find(as_of, version=2) is None
    assert find(utc("2023-01-25 12:00:01")) is None


def test_job_updates_on_an_unknown_id_raise_report_not_found(store: Store) -> None:
    with pytest.raises(ReportNotFound):
        store.mark_running("ghost", started_at=utc("2024-01-01 00:00"))
    with pytest.raises(ReportNotFound):
        store.mark_complete(
            "ghost", finished_at=utc("2024-01-01 00:00"), as_of_used=None, row_count=0, csv=b""
        )
    with pytest.raises(ReportNotFound):
        store.mark_failed("ghost", finished_at=utc("2024-01-01 00:00"), error="x")


def test_job_updates_behave_alike_on_both_backends(store: Store) -> None:
    """What the two copies of the job SQL did differently, now one behaviour: an update
    finds its job by the rows it changed (no SELECT before it), and NUL in an error
    message is stored as U+FFFD (PostgreSQL text cannot hold NUL) on both backends."""
    store.insert_job(_job("n", "2024-01-01 00:00", error="left \x00 by a crash"))
    assert store.get_job("n").error == "left \ufffd by a crash"  # type: ignore[union-attr]
    store.mark_failed("n", finished_at=utc("2024-01-01 00:01"), error="bad\x00byte\x00")
    failed = store.get_job("n")
    assert failed is not None
    assert (failed.status, failed.error) == ("failed", "bad\ufffdbyte\ufffd")
    with pytest.raises(ReportNotFound):
        store.mark_failed("n\x00", finished_at=utc("2024-01-01 00:01"), error="x")
    assert store.get_job("n\x00") is None
    assert store.job_result("n\x00") is None
    with pytest.raises(StoreError, match="NUL"):
        store.insert_job(_job("m\x00", "2024-01-01 00:00"))
    with pytest.raises(ReportNotFound):  # the result insert never ran: nothing half-done
        store.mark_complete(
            "ghost", finished_at=utc("2024-01-01 00:01"), as_of_used=None, row_count=0, csv=b"x"
        )
    assert store.job_result("ghost") is None
    assert [job.id for job in store.list_jobs()] == ["n"]


def test_a_job_row_storemon_cannot_read_is_a_store_error(store: Store) -> None:
    store.insert_job(_job("odd", "2024-01-01 00:00"))
    store.execute_sql("UPDATE jobs SET status = 'paused' WHERE id = 'odd'")
    with pytest.raises(StoreError, match="job odd has an unknown status 'paused'"):
        store.get_job("odd")
    store.execute_sql("UPDATE jobs SET status = 'queued', interpolation = 'linear'")
    with pytest.raises(StoreError, match="unknown interpolation 'linear'"):
        store.list_jobs()


def test_driver_errors_are_translated(store: Store) -> None:
    store.insert_job(_job("dup", "2024-01-01 00:00"))
    with pytest.raises(StoreError) as caught:
        store.insert_job(_job("dup", "2024-01-01 00:00"))
    assert type(caught.value) is StoreError
    assert caught.value.__cause__ is not None
    module = type(caught.value.__cause__).__module__
    assert module.split(".")[0].lstrip("_") in {"duckdb", "psycopg"}
    # The store still works after a failed write.
    assert store.get_job("dup") is not None


def test_closed_store_raises_store_error(store_url: str) -> None:
    opened = open_store(store_url)
    opened.close()
    opened.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        opened.data_version()


def test_reopening_keeps_data_and_migrations_run_once(store_url: str, tables: type[Tables]) -> None:
    first = open_store(store_url)
    first.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
    version = first.data_version()
    first.close()
    for _ in range(2):
        again = open_store(store_url)
        try:
            assert again.counts()["polls"] == 1
            assert again.data_version() == version
            assert again.schema_version() == SCHEMA_VERSION
        finally:
            again.close()


def test_reads_beside_a_write_from_other_threads(store: Store, tables: type[Tables]) -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    big = tables.polls([(f"s{i % 50}", start + timedelta(minutes=i), True) for i in range(20_000)])
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                store.counts()
                store.report_inputs(None)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        writers = [
            threading.Thread(target=store.apply_ingest, args=(IngestBatch(polls=big),))
            for _ in range(2)
        ]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert errors == []
    assert store.counts()["polls"] == 20_000


def test_bad_urls_raise_config_error(tmp_path: object) -> None:
    for url in ("sqlite:///x.db", "duckdb://x.duckdb", "duckdb:///", "", "/tmp/x.duckdb"):
        with pytest.raises(ConfigError, match="duckdb:///"):
            open_store(url)
    with pytest.raises(ConfigError, match="does not exist"):
        open_store("duckdb:////nonexistent-dir-storemon/x.duckdb")


def test_awkward_store_ids_and_texts_round_trip(store: Store, tables: type[Tables]) -> None:
    ids = ["a,b", 'q"uote', "new\nline", "ünï €", "tab\there", "0042", "x" * 300]
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls([(i, "2023-01-23 10:00", True) for i in ids]),
            hours=tables.hours([(i, 0, "09:00", "10:00") for i in ids]),
            timezones=tables.timezones([(i, "Europe/Paris") for i in ids]),
            rejects=tables.rejects([("status", "wéird,name.csv", 2, 'bad "x"', "a\x00b,\n")]),
        )
    )
    inputs = store.report_inputs(None)
    assert sorted(_as_text(inputs.polls).column("store_id").to_pylist()) == sorted(ids)
    assert sorted(inputs.hours.column("store_id").to_pylist()) == sorted(ids)
    assert sorted(inputs.timezones.column("store_id").to_pylist()) == sorted(ids)
    reject = store.rejects().to_pylist()[0]
    assert (reject["file"], reject["reason"]) == ("wéird,name.csv", 'bad "x"')
    assert reject["raw"] in {"a\x00b,\n", "a\ufffdb,\n"}  # PostgreSQL text cannot hold NUL


def test_a_new_migration_is_applied_once_on_an_existing_database(
    store_url: str, tables: type[Tables], monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.store import migrations

    first = open_store(store_url)
    first.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
    first.close()
    extra = migrations.Migration(
        SCHEMA_VERSION + 1, "test: notes", ("CREATE TABLE notes (body TEXT)",)
    )
    monkeypatch.setattr(migrations, "DUCKDB", (*migrations.DUCKDB, extra))
    monkeypatch.setattr(migrations, "POSTGRES", (*migrations.POSTGRES, extra))
    for _ in range(2):  # a second apply would fail: the table exists
        again = open_store(store_url)
        try:
            assert again.schema_version() == SCHEMA_VERSION + 1
            assert again.counts()["polls"] == 1
        finally:
            again.close()


def _every_call(store: Store, tables: type[Tables]) -> list[tuple[str, object]]:
    at = utc("2024-01-01 00:00")
    return [
        (
            "apply_ingest",
            lambda: store.apply_ingest(IngestBatch(polls=tables.polls([("a", at, True)]))),
        ),
        ("report_inputs", lambda: store.report_inputs(None)),
        ("latest_poll_utc", store.latest_poll_utc),
        ("counts", store.counts),
        ("rejects", store.rejects),
        ("data_version", store.data_version),
        ("ingested_file", lambda: store.ingested_file("s.csv", "ab" * 32)),
        ("job_counts", store.job_counts),
        ("insert_job", lambda: store.insert_job(_job("x", "2024-01-01 00:00"))),
        ("get_job", lambda: store.get_job("x")),
        ("list_jobs", store.list_jobs),
        (
            "find_reusable_job",
            lambda: store.find_reusable_job(
                as_of_requested=None, interpolation="nearest", data_version=1
            ),
        ),
        ("mark_running", lambda: store.mark_running("x", started_at=at)),
        (
            "mark_complete",
            lambda: store.mark_complete("x", finished_at=at, as_of_used=None, row_count=0, csv=b""),
        ),
        ("mark_failed", lambda: store.mark_failed("x", finished_at=at, error="e")),
        ("job_result", lambda: store.job_result("x")),
        ("unfinished_jobs", store.unfinished_jobs),
    ]


def _cut_off(store: Store, request: pytest.FixtureRequest) -> None:
    """Take the database away under the store (its connections, and any new one)."""
    if store.url.startswith("duckdb"):  # one process, no server to lose: no tables
        tables = store.execute_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        )
        for (name,) in tables:
            store.execute_sql(f"DROP TABLE {name}")
        return
    terminate_sessions(request.getfixturevalue("pg_admin_url"), store.url, refuse_new=True)


def test_no_driver_error_leaks_from_any_method(
    store: Store, tables: type[Tables], request: pytest.FixtureRequest
) -> None:
    """Take the database away under the store: every method raises StoreError, and
    quickly (PostgreSQL: its connections are terminated and no new one is allowed)."""
    store.counts()  # PostgreSQL: a pooled connection to be cut off
    _cut_off(store, request)
    for name, call in _every_call(store, tables):
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            call()  # type: ignore[operator]
        assert type(caught.value) is StoreError, name
        assert caught.value.__cause__ is not None, name
        assert time.monotonic() - started < 5, name  # not the 60 s wait for a busy pool


def test_instants_far_from_1970_are_stored_to_the_microsecond(
    store: Store, tables: type[Tables]
) -> None:
    # The reader accepts years 0001..9999; beyond about 2255 a float conversion of
    # epoch microseconds loses precision (9999-12-31 23:59:59.999999 became 10000-01-01).
    edges = [
        datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2400, 6, 1, 12, 0, 0, 123457, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    store.apply_ingest(
        IngestBatch(polls=tables.polls([(f"s{i}", at, True) for i, at in enumerate(edges)]))
    )
    got = store.report_inputs(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert _rows(_as_text(got.polls)) == [(f"s{i}", at, True) for i, at in enumerate(edges)]
    assert store.latest_poll_utc() == edges[-1]


def test_an_as_of_in_the_first_week_of_year_one_reads_without_overflow(
    store: Store, tables: type[Tables]
) -> None:
    first = datetime(1, 1, 1, 6, tzinfo=UTC)
    store.apply_ingest(IngestBatch(polls=tables.polls([("a", first, False)])))
    got = store.report_inputs(datetime(1, 1, 3, tzinfo=UTC))
    assert _rows(_as_text(got.polls)) == [("a", first, False)]
    assert got.as_of == datetime(1, 1, 3, tzinfo=UTC)


def _batches(tables: type[Tables], *groups: list[tuple[str, str, bool]]) -> Iterator[pa.Table]:
    for rows in groups:
        yield tables.polls(rows)


def test_polls_as_batches_are_one_ingest_and_a_later_batch_wins(
    store: Store, tables: type[Tables]
) -> None:
    version = store.data_version()
    store.apply_ingest(
        IngestBatch(
            polls=_batches(
                tables,
                [("b", "2023-01-23 10:00", True), ("a", "2023-01-23 10:00", True)],
                [],  # an empty batch is skipped
                [("a", "2023-01-23 10:00", False), ("c", "2023-01-23 11:00", True)],
                [("a", "2023-01-23 10:00", True), ("a", "2023-01-23 10:00", False)],
            ),
            hours=tables.hours([("a", 0, "09:00", "12:00")]),
            files={"status": "s.csv"},
            file_hashes={"status": _HASH},
        )
    )
    assert _polls(store) == [
        ("a", utc("2023-01-23 10:00"), False),  # the last row of the last batch holding it
        ("b", utc("2023-01-23 10:00"), True),
        ("c", utc("2023-01-23 11:00"), True),
    ]
    assert store.counts()["stores"] == 3
    assert sorted(_codes(store).values()) == [0, 1, 2]
    assert store.latest_poll_utc() == utc("2023-01-23 11:00")
    assert store.data_version() == version + 1  # one ingest, one version
    assert store.ingested_file("s.csv", _HASH) is not None
    # Again, as batches of other sizes against the stored polls: only the change lands.
    store.apply_ingest(
        IngestBatch(
            polls=_batches(
                tables,
                [("c", "2023-01-23 11:00", True)],
                [("b", "2023-01-23 10:00", False)],
            )
        )
    )
    assert ("b", utc("2023-01-23 10:00"), False) in _polls(store)
    assert store.counts()["polls"] == 3


def test_batches_without_rows_change_nothing(store: Store, tables: type[Tables]) -> None:
    version = store.data_version()
    store.apply_ingest(IngestBatch(polls=iter([])))
    store.apply_ingest(IngestBatch(polls=_batches(tables, [], [])))
    assert store.data_version() == version
    assert store.counts()["polls"] == 0


def test_a_batch_source_that_fails_midway_stores_nothing(
    store: Store, tables: type[Tables]
) -> None:
    store.apply_ingest(IngestBatch(polls=tables.polls([("a", "2023-01-23 10:00", True)])))
    version = store.data_version()

    def failing() -> Iterator[pa.Table]:
        yield tables.polls([("a", "2023-01-23 10:00", False), ("c", "2023-01-23 11:00", True)])
        yield tables.polls([("d", "2023-01-23 11:00", True)])
        raise IngestError("s.csv: the file ended inside a quoted field")

    with pytest.raises(IngestError, match="inside a quoted field"):
        store.apply_ingest(
            IngestBatch(polls=failing(), rejects=_batch_failing_late(tables).rejects)
        )
    _assert_unchanged(store, version)
    assert _codes(store) == {"a": 0}

    def malformed() -> Iterator[pa.Table]:
        yield tables.polls([("c", "2023-01-23 11:00", True)])
        yield pa.table({"store_id": ["d"]})

    with pytest.raises(StoreError, match="polls table does not match"):
        store.apply_ingest(IngestBatch(polls=malformed()))
    _assert_unchanged(store, version)


def test_memory_for_batches_follows_one_batch(store: Store) -> None:
    """Arrow memory while the store consumes 30 batches stays that of a few batches: it
    keeps none of those it has staged (a list of them all would hold 30)."""
    import numpy as np

    rows_per_batch = 20_000
    ids = pa.array([f"s{i}" for i in range(500)])

    def batch(k: int) -> pa.Table:
        index = np.arange(k * rows_per_batch, (k + 1) * rows_per_batch)
        seconds = 1_672_531_200 + index
        return pa.Table.from_arrays(
            [
                ids.take(pa.array(index % 500)),
                pa.array(seconds * 1_000_000, pa.timestamp("us", tz="UTC")),
                pa.array(index % 3 == 0),
            ],
            schema=schema.POLLS,
        )

    one = batch(0).get_total_buffer_size()
    base = pa.total_allocated_bytes()
    peaks: list[int] = []

    def batches() -> Iterator[pa.Table]:
        for k in range(30):
            table = batch(k)
            peaks.append(pa.total_allocated_bytes() - base)
            yield table

    store.apply_ingest(IngestBatch(polls=batches()))
    assert store.counts()["polls"] == 30 * rows_per_batch
    assert max(peaks) < 6 * one, (max(peaks), one)


def test_only_the_holder_changes_a_job_and_a_finished_job_never_changes(store: Store) -> None:
    lease = utc("2024-01-01 01:00")
    store.insert_job(_job("j", "2024-01-01 00:00", lease_owner="a", lease_expires_at=lease))
    at = utc("2024-01-01 00:01")
    assert not store.mark_running("j", started_at=at, owner="b")
    assert not store.mark_running("j", started_at=at)  # None: only a job nobody holds
    assert not store.mark_failed("j", finished_at=at, error="x", owner="b")
    assert store.get_job("j").status == "queued"  # type: ignore[union-attr]
    assert store.mark_running("j", started_at=at, owner="a", lease_until=utc("2024-01-01 02:00"))
    running = store.get_job("j")
    assert running is not None
    assert (running.status, running.attempts, running.lease_owner) == ("running", 1, "a")
    assert running.lease_expires_at == utc("2024-01-01 02:00")
    done = {"finished_at": at, "as_of_used": None, "row_count": 1}
    assert not store.mark_complete("j", csv=b"b's", owner="b", **done)  # type: ignore[arg-type]
    assert store.mark_complete("j", csv=b"first", owner="a", **done)  # type: ignore[arg-type]
    # Complete is final: no second result, no failure, no restart - whoever asks.
    assert not store.mark_complete("j", csv=b"second", owner="a", **done)  # type: ignore[arg-type]
    assert not store.mark_failed("j", finished_at=at, error="late", owner="a")
    assert not store.mark_running("j", started_at=at, owner="a")
    final = store.get_job("j")
    assert final is not None
    assert (final.status, final.error, final.attempts) == ("complete", None, 1)
    assert store.job_result("j") == b"first"
    store.insert_job(_job("f", "2024-01-01 00:00"))
    assert store.mark_failed("f", finished_at=at, error="boom")
    assert not store.mark_complete("f", csv=b"x", **done)  # type: ignore[arg-type]
    assert store.get_job("f").status == "failed"  # type: ignore[union-attr]
    with pytest.raises(ReportNotFound):
        store.mark_running("ghost", started_at=at, owner="a")


def test_claiming_takes_expired_or_unheld_jobs_oldest_first(store: Store) -> None:
    now = utc("2024-01-01 12:00")
    expired, live = now - timedelta(seconds=1), now + timedelta(seconds=30)
    store.insert_job(_job("old-unheld", "2024-01-01 00:00"))
    store.insert_job(_job("expired", "2024-01-01 00:01", lease_owner="x", lease_expires_at=expired))
    store.insert_job(_job("live", "2024-01-01 00:02", lease_owner="y", lease_expires_at=live))
    store.insert_job(_job("done", "2024-01-01 00:03"))
    store.mark_failed("done", finished_at=now, error="x")
    store.insert_job(_job("newest", "2024-01-01 00:04", lease_owner="x", lease_expires_at=expired))
    until = now + timedelta(seconds=30)
    first = store.claim_jobs("me", now=now, lease_until=until, limit=2)
    assert [job.id for job in first] == ["old-unheld", "expired"]
    assert {(job.lease_owner, job.lease_expires_at) for job in first} == {("me", until)}
    assert [job.id for job in store.claim_jobs("other", now=now, lease_until=until, limit=9)] == [
        "newest"
    ]
    assert store.claim_jobs("late", now=now, lease_until=until, limit=9) == []
    assert store.claim_jobs("me", now=now, lease_until=until, limit=0) == []
    later = now + timedelta(seconds=31)  # every lease has run out by then
    again = store.claim_jobs("late", now=later, lease_until=later, limit=9)
    assert [job.id for job in again] == ["old-unheld", "expired", "live", "newest"]


def test_leases_are_renewed_and_given_up_by_their_owner(store: Store) -> None:
    lease = utc("2024-01-01 01:00")
    for name in ("a1", "a2", "a3"):
        store.insert_job(_job(name, "2024-01-01 00:00", lease_owner="a", lease_expires_at=lease))
    store.insert_job(_job("b1", "2024-01-01 00:00", lease_owner="b", lease_expires_at=lease))
    store.mark_complete("a3", finished_at=lease, as_of_used=None, row_count=0, csv=b"", owner="a")
    later = utc("2024-01-01 02:00")
    assert store.renew_leases("a", lease_until=later) == {"a1", "a2"}  # finished: not held
    assert store.get_job("a1").lease_expires_at == later  # type: ignore[union-attr]
    assert store.get_job("b1").lease_expires_at == lease  # type: ignore[union-attr]
    assert store.release_leases("a", ["a2", "b1", "nope"]) == 1
    assert store.get_job("a2").lease_owner is None  # type: ignore[union-attr]
    assert store.release_leases("a", []) == 0
    assert store.release_leases("a") == 1
    assert store.renew_leases("a", lease_until=later) == set()
    now = utc("2024-01-01 00:30")
    assert {j.id for j in store.claim_jobs("c", now=now, lease_until=later, limit=9)} == {
        "a1",
        "a2",
    }
