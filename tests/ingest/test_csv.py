"""read_source: typed rows, rejected rows with exact line numbers, whole-file refusals."""

from __future__ import annotations

import csv as _pycsv
import gzip
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storemon.errors import IngestError, MissingColumnError
from storemon.ingest import ParsedFile, read_source
from storemon.schema import HOURS, POLLS, REJECTS, TIMEZONES, US_PER_DAY

DATA = Path(__file__).parent.parent / "data" / "ingest"
STATUS_HEADER = "store_id,status,timestamp_utc\n"
T0 = "2023-01-22 12:09:39.388884 UTC"


def status(body: str, **kwargs: Any) -> ParsedFile:
    return read_source("status", (STATUS_HEADER + body).encode(), **kwargs)


def rejects(parsed: ParsedFile) -> list[tuple[int, str, str]]:
    """(line, reason, raw) per rejected row."""
    return [(r["line"], r["reason"], r["raw"]) for r in parsed.rejects.to_pylist()]


def lines_of(parsed: ParsedFile) -> list[int]:
    return parsed.rejects.column("line").to_pylist()


# --- valid files -------------------------------------------------------------------------


def test_status_rows_are_typed_in_file_order() -> None:
    parsed = status(f"b,inactive,{T0}\na,active,2023-01-22 12:00:00 UTC\nb,active,{T0}\n")
    assert parsed.table.schema == POLLS
    assert parsed.source == "status"
    assert parsed.file == "<bytes>"
    assert parsed.rows == 3
    assert parsed.rejects.schema == REJECTS
    assert parsed.rejects.num_rows == 0
    assert parsed.table.to_pylist() == [
        {
            "store_id": "b",
            "timestamp_utc": datetime(2023, 1, 22, 12, 9, 39, 388884, tzinfo=UTC),
            "active": False,
        },
        {"store_id": "a", "timestamp_utc": datetime(2023, 1, 22, 12, tzinfo=UTC), "active": True},
        {
            "store_id": "b",
            "timestamp_utc": datetime(2023, 1, 22, 12, 9, 39, 388884, tzinfo=UTC),
            "active": True,
        },
    ]


def test_store_ids_are_trimmed_opaque_text() -> None:
    parsed = status(f"0042,active,{T0}\n42,active,{T0}\n  store-7a ,active,{T0}\n")
    assert parsed.table.column("store_id").to_pylist() == ["0042", "42", "store-7a"]


def test_status_words_in_any_case_with_blanks() -> None:
    parsed = status(f"a, Active ,{T0}\na,INACTIVE,{T0}\na,inActive,{T0}\n")
    assert parsed.table.column("active").to_pylist() == [True, False, False]


def test_header_is_matched_case_insensitively_with_extra_columns_in_any_order() -> None:
    data = (
        f"Note, TIMESTAMP_UTC ,Status,Store_Id,other\nx,{T0},active,s1,y\nx,{T0},inactive,s2,y\n"
    ).encode()
    parsed = read_source("status", data)
    assert parsed.table.column("store_id").to_pylist() == ["s1", "s2"]
    assert parsed.table.column("active").to_pylist() == [True, False]


@pytest.mark.parametrize("day_column", ["dayOfWeek", "day", "day_of_week", "DAYOFWEEK"])
def test_hours_accepts_each_day_column_name(day_column: str) -> None:
    data = f"store_id,{day_column},start_time_local,end_time_local\ns,0,09:00:00,17:30:00\n"
    parsed = read_source("hours", data.encode())
    assert parsed.table.schema == HOURS
    assert parsed.table.to_pylist() == [
        {
            "store_id": "s",
            "day_of_week": 0,
            "start_local_us": 9 * 3600 * 1_000_000,
            "end_local_us": 17.5 * 3600 * 1_000_000,
        }
    ]


def test_hours_times_and_midnight_end() -> None:
    data = (
        "store_id,day,start_time_local,end_time_local\n"
        "s,6,9:05,24:00\n"
        "s,3,22:00:00,02:00:00\n"
        "s,1,00:00:00.5,23:59:59.999999\n"
    )
    parsed = read_source("hours", data.encode())
    assert parsed.rejects.num_rows == 0
    rows = parsed.table.to_pylist()
    assert [r["day_of_week"] for r in rows] == [6, 3, 1]
    assert [r["start_local_us"] for r in rows] == [
        (9 * 60 + 5) * 60_000_000,
        22 * 3_600_000_000,
        500_000,
    ]
    assert [r["end_local_us"] for r in rows] == [US_PER_DAY, 2 * 3_600_000_000, US_PER_DAY - 1]


def test_timezones_are_trimmed_iana_names() -> None:
    data = "store_id,timezone_str\na, America/New_York \nb,UTC\nc,Asia/Kolkata\n"
    parsed = read_source("timezones", data.encode())
    assert parsed.table.schema == TIMEZONES
    assert parsed.table.column("timezone_str").to_pylist() == [
        "America/New_York",
        "UTC",
        "Asia/Kolkata",
    ]


def test_header_only_file_gives_empty_tables() -> None:
    for data in (STATUS_HEADER.encode(), STATUS_HEADER.strip().encode()):
        parsed = read_source("status", data)
        assert parsed.rows == 0
        assert parsed.table.num_rows == 0
        assert parsed.table.schema == POLLS


def test_byte_order_mark_and_crlf_are_accepted() -> None:
    data = b"\xef\xbb\xbfstore_id,status,timestamp_utc\r\na,active," + T0.encode() + b"\r\n"
    parsed = read_source("status", data)
    assert parsed.table.column("store_id").to_pylist() == ["a"]
    assert parsed.rejects.num_rows == 0


@pytest.mark.parametrize(
    ("source", "fixture", "rows"),
    [
        ("status", "store_status_head.csv", 40),
        ("hours", "menu_hours_head.csv", 40),
        ("timezones", "timezones_head.csv", 40),
    ],
)
def test_real_data_samples_read_cleanly(source: Any, fixture: str, rows: int) -> None:
    parsed = read_source(source, DATA / fixture)
    assert parsed.rows == rows
    assert parsed.table.num_rows == rows
    assert parsed.rejects.num_rows == 0
    assert parsed.file == str(DATA / fixture)


def test_gzip_from_path_and_bytes(tmp_path: Path) -> None:
    plain = (STATUS_HEADER + f"a,active,{T0}\n").encode()
    packed = tmp_path / "polls.csv.gz"
    packed.write_bytes(gzip.compress(plain))
    unnamed = tmp_path / "polls.data"  # sniffed by content, not by name
    unnamed.write_bytes(gzip.compress(plain))
    for data in (packed, str(packed), unnamed, gzip.compress(plain)):
        parsed = read_source("status", data)
        assert parsed.table.column("store_id").to_pylist() == ["a"]


def test_name_is_used_in_rejects_and_errors() -> None:
    parsed = status("a,maybe," + T0 + "\n", name="upload.csv")
    assert parsed.file == "upload.csv"
    assert parsed.rejects.column("file").to_pylist() == ["upload.csv"]
    with pytest.raises(MissingColumnError, match=r"^upload\.csv: "):
        read_source("status", b"store_id,status\n", name="upload.csv")


# --- bad rows ----------------------------------------------------------------------------


def test_bad_status_rows_are_rejected_with_reason_and_raw_text() -> None:
    parsed = status(
        f"a,actve,{T0}\n"
        f" ,active,{T0}\n"
        "b,active,2023-02-30 10:00:00\n"
        "c,active,22/01/2023 10:00\n"
        f"d,active,{T0}\n"
    )
    assert parsed.rows == 5
    assert parsed.table.column("store_id").to_pylist() == ["d"]
    found = rejects(parsed)
    assert [line for line, _, _ in found] == [2, 3, 4, 5]
    assert found[0][1] == "unknown status 'actve' (expected active or inactive)"
    assert found[0][2] == f"a,actve,{T0}"
    assert found[1][1] == "empty store_id (every row needs a store id)"
    assert "timestamp_utc '2023-02-30 10:00:00' is not a real date and time" in found[2][1]
    assert found[3][1].startswith(
        "cannot read timestamp_utc '22/01/2023 10:00' (expected YYYY-MM-DD"
    )
    assert set(parsed.rejects.column("source").to_pylist()) == {"status"}


def test_a_row_with_several_problems_lists_them_all() -> None:
    parsed = status("a,nope,soon\n")
    ((line, reason, raw),) = rejects(parsed)
    assert line == 2
    assert raw == "a,nope,soon"
    assert reason.startswith("unknown status 'nope' (expected active or inactive); cannot read")


def test_bad_hours_rows() -> None:
    data = (
        "store_id,dayOfWeek,start_time_local,end_time_local\n"
        "s,7,09:00,17:00\n"
        "s,-1,09:00,17:00\n"
        "s,mon,09:00,17:00\n"
        "s,1,24:00,17:00\n"
        "s,1,9am,17:00\n"
        "s,1,09:00,24:30\n"
        "s,1,09:00,\n"
        "s, 2 ,09:00,17:00\n"
    )
    parsed = read_source("hours", data.encode())
    assert parsed.table.column("day_of_week").to_pylist() == [2]
    found = rejects(parsed)
    assert [line for line, _, _ in found] == [2, 3, 4, 5, 6, 7, 8]
    assert (
        found[0][1] == "dayOfWeek '7' is not a weekday number (expected 0 = Monday ... 6 = Sunday)"
    )
    assert found[2][1].startswith("dayOfWeek 'mon' is not a weekday number")
    assert found[3][1] == (
        "start_time_local '24:00' is allowed as an end time only"
        " (use 00:00 for a start at midnight)"
    )
    assert found[4][1].startswith("cannot read start_time_local '9am' (expected H:MM, HH:MM:SS")
    assert found[5][1] == (
        "end_time_local '24:30' is not a time of day (expected 00:00 to 23:59:59.999999)"
    )
    assert found[6][1].startswith("cannot read end_time_local ''")


def test_hours_messages_use_the_files_column_name() -> None:
    data = "store_id,day,start_time_local,end_time_local\ns,9,09:00,17:00\n"
    (row,) = rejects(read_source("hours", data.encode()))
    assert row[1].startswith("day '9' is not a weekday number")


def test_bad_timezones_are_rejected_including_path_tricks() -> None:
    data = (
        "store_id,timezone_str\n"
        "a,America/Chicago\n"
        "b,Mars/Olympus_Mons\n"
        "c,\n"
        "d,america/new_york\n"
        "e,../../etc/passwd\n"
        "f,/usr/share/zoneinfo/UTC\n"
        "g,localtime\n"
        "h,Europe/../UTC\n"
        "i,Mars/Olympus_Mons\n"
    )
    parsed = read_source("timezones", data.encode())
    assert parsed.table.column("store_id").to_pylist() == ["a"]
    found = rejects(parsed)
    assert [line for line, _, _ in found] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert found[0][1] == (
        "timezone_str 'Mars/Olympus_Mons' is not a known IANA time zone"
        " (expected e.g. 'America/Chicago')"
    )
    assert found[1][1].startswith("timezone_str is empty")
    assert found[2][1] == (
        "timezone_str 'america/new_york' is not a known IANA time zone"
        " (did you mean 'America/New_York'?)"
    )
    assert all("not a known IANA time zone" in reason for _, reason, _ in found[3:])


# --- line numbers ------------------------------------------------------------------------


def test_blank_lines_are_skipped_but_counted_for_line_numbers() -> None:
    parsed = status(f"\na,active,{T0}\n\n   \n\t\nb,bad,{T0}\n\n")
    assert parsed.rows == 2
    assert parsed.table.column("store_id").to_pylist() == ["a"]
    assert lines_of(parsed) == [7]


def test_a_row_of_only_commas_is_not_blank() -> None:
    parsed = status(",,\n")
    assert parsed.rows == 1
    assert rejects(parsed)[0][0] == 2
    assert rejects(parsed)[0][2] == ",,"


def test_rows_with_the_wrong_number_of_fields_keep_the_rest() -> None:
    parsed = status(f"a,active\nb,active,{T0}\nc,active,{T0},extra\nd,active,{T0}\n")
    assert parsed.rows == 4
    assert parsed.table.column("store_id").to_pylist() == ["b", "d"]
    assert rejects(parsed) == [
        (
            2,
            "expected 3 fields like the header, found 2 (check the commas and quotes on this line)",
            "a,active",
        ),
        (
            4,
            "expected 3 fields like the header, found 4 (check the commas and quotes on this line)",
            f"c,active,{T0},extra",
        ),
    ]


def test_line_numbers_after_quoted_newlines() -> None:
    parsed = status(
        f'"a\nb",active,{T0}\n'  # lines 2-3
        f"c,actve,{T0}\n"  # line 4
        f'd,"in\r\nactive\n",{T0}\n'  # lines 5-7
        f"e,x,{T0}\n"  # line 8
    )
    found = rejects(parsed)
    assert [line for line, _, _ in found] == [4, 5, 8]
    assert found[1][2] == f'd,"in\r\nactive\n",{T0}'
    assert parsed.table.column("store_id").to_pylist() == ["a\nb"]


def test_line_numbers_with_quotes_blank_lines_and_malformed_rows_together() -> None:
    parsed = status(
        f'"x",active,{T0}\n'  # 2
        "\n"  # 3
        f'"y\n\ny",bad,{T0}\n'  # 4-6
        "z,active\n"  # 7
        "\r\n"  # 8
        f'q,"active",{T0},"four\nth"\n'  # 9-10
        f"r,nope,{T0}\n"  # 11
    )
    assert [line for line, _, _ in rejects(parsed)] == [4, 7, 9, 11]
    assert parsed.rows == 5
    assert parsed.table.column("store_id").to_pylist() == ["x"]


def test_lone_carriage_returns_end_lines() -> None:
    data = f"store_id,status,timestamp_utc\ra,active,{T0}\r\rb,bad,{T0}\r".encode()
    parsed = read_source("status", data)
    assert lines_of(parsed) == [4]
    assert rejects(parsed)[0][2] == f"b,bad,{T0}"


def test_undecodable_bytes_reject_only_their_row() -> None:
    data = (STATUS_HEADER + f"a,active,{T0}\n").encode() + (
        b"caf\xe9,active," + T0.encode() + b"\n" + b"b,active," + T0.encode() + b"\n"
    )
    parsed = read_source("status", data)
    assert parsed.table.column("store_id").to_pylist() == ["a", "b"]
    ((line, reason, raw),) = rejects(parsed)
    assert line == 3
    assert reason == "contains bytes that are not UTF-8 text (save the file as UTF-8)"
    assert raw.startswith("caf\ufffd,active")


def test_utf8_text_is_fine() -> None:
    parsed = status(f"café-Ω,active,{T0}\n")
    assert parsed.table.column("store_id").to_pylist() == ["café-Ω"]


def test_exact_line_numbers_survive_parallel_blocks(tmp_path: Path) -> None:
    """Big enough for several parser blocks; bad rows late in the file, after quotes."""
    good = f"store-{{}},active,{T0}\n"
    parts = [STATUS_HEADER, '"quoted\nid",active,' + T0 + "\n"]  # lines 2-3
    parts += [good.format(i) for i in range(150_000)]  # lines 4 .. 150_003
    parts += ["short,row\n", "\n", f"late,bad,{T0}\n"]  # lines 150_004 .. 150_006
    path = tmp_path / "big.csv"
    path.write_text("".join(parts))
    parsed = read_source("status", path)
    assert parsed.rows == 150_003
    assert parsed.table.num_rows == 150_001
    assert lines_of(parsed) == [150_004, 150_006]
    assert parsed.table.column("store_id")[-1].as_py() == "store-149999"


# --- whole-file refusals -----------------------------------------------------------------


def test_missing_column_refuses_the_file_and_names_it() -> None:
    with pytest.raises(MissingColumnError) as caught:
        read_source("status", b"store_id,state,timestamp_utc\na,active,x\n", name="polls.csv")
    assert caught.value.column == "status"
    assert caught.value.file == "polls.csv"
    assert caught.value.header == ["store_id", "state", "timestamp_utc"]
    assert "lacks the required column 'status'" in str(caught.value)


def test_missing_day_column_names_the_canonical_name() -> None:
    with pytest.raises(MissingColumnError, match="'dayOfWeek'"):
        read_source("hours", b"store_id,weekday,start_time_local,end_time_local\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"\nstore_id,status,timestamp_utc\n", "line 1 is empty; it must be the header"),
        (b'"store_id,status,timestamp_utc\n', "unclosed quote"),
        (b"\xff\xfes\x00t\x00", "UTF-16"),
        (b"PK\x03\x04rest", "zip archive"),
        (b"store_id\x00,status\n", "not a text file"),
        (b"\x1f\x8bnot really gzip", "cannot be unpacked"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(IngestError, match=message) as caught:
        read_source("status", data, name="in.csv")
    assert str(caught.value).startswith("in.csv: ")


def test_missing_path_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        read_source("status", tmp_path / "nope.csv")
    with pytest.raises(IngestError, match="is a directory"):
        read_source("status", tmp_path)


def test_unknown_source_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown source"):
        read_source("polls", b"x")  # type: ignore[arg-type]


def test_table_is_arrow() -> None:
    parsed = status(f"a,active,{T0}\n")
    assert isinstance(parsed.table, pa.Table)


# --- line numbers against a reference ------------------------------------------------------

_FIELD = st.sampled_from(
    ["s1", "0042", "x,y", 'say "hi"', "two\nlines", "cr\r\nlf", "", " padded "]
)
_STATUS = st.sampled_from(["active", "INACTIVE", "actve", "", "in\nactive"])
_STAMP = st.sampled_from([T0, "2023-01-22 12:00", "2023-02-30 00:00", "soon", ""])


@st.composite
def messy_files(draw: st.DrawFn) -> tuple[str, list[list[str] | None]]:
    """A status CSV written by Python's csv module: good and bad rows, blank lines,
    rows with the wrong number of fields; rows are None for blank lines."""
    rows: list[list[str] | None] = []
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "short", "long"]))
        if kind == "blank":
            rows.append(None)
            continue
        row = [draw(_FIELD), draw(_STATUS), draw(_STAMP)]
        if kind == "short":
            row = row[:2]
        elif kind == "long":
            row.append(draw(_FIELD))
        rows.append(row)
    return draw(st.sampled_from(["\n", "\r\n"])), rows


def _reference(terminator: str, rows: list[list[str] | None]) -> tuple[str, list[int], list[str]]:
    """The file text, the start line of every rejected row, and the ids of the valid rows."""
    out = io.StringIO()
    writer = _pycsv.writer(out, lineterminator=terminator)
    writer.writerow(["store_id", "status", "timestamp_utc"])
    for row in rows:
        if row is None:
            out.write(terminator)
        else:
            writer.writerow(row)
    text = out.getvalue()
    reader = _pycsv.reader(io.StringIO(text, newline=""))
    next(reader)
    bad_lines, good_ids = [], []
    line = reader.line_num
    for record in reader:
        start, line = line + 1, reader.line_num
        if not record:
            continue
        ok = (
            len(record) == 3
            and record[0].strip() != ""
            and record[1].strip().lower() in ("active", "inactive")
            and record[2] in (T0, "2023-01-22 12:00")
        )
        if ok:
            good_ids.append(record[0].strip())
        else:
            bad_lines.append(start)
    return text, bad_lines, good_ids


@settings(max_examples=150, deadline=None)
@given(messy_files())
def test_reject_lines_match_pythons_csv_reader(case: tuple[str, list[list[str] | None]]) -> None:
    text, bad_lines, good_ids = _reference(*case)
    parsed = read_source("status", text.encode())
    assert lines_of(parsed) == bad_lines
    assert parsed.table.column("store_id").to_pylist() == good_ids
    assert parsed.rows == len(bad_lines) + len(good_ids)


def test_a_store_id_longer_than_the_limit_is_a_bad_row() -> None:
    """An id of over 1,024 bytes (UTF-8) is rejected with its row, so it cannot fail a
    whole ingest on a database index's entry limit; up to the limit it is kept as is."""
    longest = "é" * 512  # 1,024 bytes
    parsed = status(f"{longest},active,{T0}\n{longest}x,active,{T0}\nb,active,{T0}\n")
    assert parsed.table.column("store_id").to_pylist() == [longest, "b"]
    ((line, reason, raw),) = rejects(parsed)
    assert line == 3
    assert reason == "store_id is 1,025 bytes long (at most 1,024 bytes)"
    assert raw.startswith(longest)


def test_a_long_store_id_fails_its_row_in_every_source() -> None:
    long_id = "s" * 2000
    hours = read_source(
        "hours",
        f"store_id,dayOfWeek,start_time_local,end_time_local\n{long_id},0,09:00,17:00\n".encode(),
    )
    zones = read_source("timezones", f"store_id,timezone_str\n{long_id},Asia/Kathmandu\n".encode())
    for parsed in (hours, zones):
        assert parsed.table.num_rows == 0
        assert rejects(parsed)[0][1] == "store_id is 2,000 bytes long (at most 1,024 bytes)"
