"""The reader on hostile input: bounded work, every valid row kept, every bad one rejected
with its line (issue 15, items 1-5, 15, 16, 19; issue 14, items 5, 8, 9)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storemon.errors import FileTooLarge, IngestError, MissingColumnError
from storemon.ingest import ParsedFile, _batches, read_source
from storemon.ingest._records import MAX_QUOTED_LINES, MAX_ROW_BYTES
from storemon.ingest.csv import MAX_REJECTS_KEPT, stream_source

HEADER = b"store_id,status,timestamp_utc\n"
T0 = b"2023-01-22 12:09:39.388884 UTC"


def row(store: str, status: str = "active") -> bytes:
    return f"{store},{status},".encode() + T0 + b"\n"


def ids(parsed: ParsedFile) -> list[str]:
    return parsed.table.column("store_id").to_pylist()  # type: ignore[no-any-return]


def rejects(parsed: ParsedFile) -> list[tuple[int, str]]:
    return [(r["line"], r["reason"]) for r in parsed.rejects.to_pylist()]


# --- item 1: a compression bomb ----------------------------------------------------------


def test_a_compression_bomb_stops_at_the_limit_and_names_it() -> None:
    bomb = gzip.compress(HEADER + b"\n" * (64 << 20), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(FileTooLarge) as caught:
        read_source("status", bomb, name="bomb.csv.gz", max_decompressed_bytes=1 << 20)
    message = str(caught.value)
    assert message.startswith("bomb.csv.gz: ")
    assert "1,048,576 bytes" in message
    assert "STOREMON_MAX_DECOMPRESSED_BYTES" in message
    assert caught.value.limit == 1 << 20


def test_the_limit_counts_plain_text_too_and_a_file_at_it_is_read() -> None:
    data = HEADER + row("a") * 100
    assert read_source("status", data, max_decompressed_bytes=len(data)).rows == 100
    with pytest.raises(FileTooLarge):
        read_source("status", data, max_decompressed_bytes=len(data) - 1)


# --- item 2: blank lines -----------------------------------------------------------------


@pytest.mark.parametrize("blank", [b"\n", b"\r\n", b"\r", b"  \t\n"])
def test_millions_of_blank_lines_are_no_rows_and_keep_line_numbers(blank: bytes) -> None:
    count = (4 << 20) // len(blank)
    data = HEADER + row("a") + blank * count + row("b", "bad") + row("c")
    parsed = read_source("status", data)
    assert parsed.rows == 3
    assert ids(parsed) == ["a", "c"]
    assert [line for line, _ in rejects(parsed)] == [3 + count]


# --- item 3: a row longer than a block ---------------------------------------------------


@pytest.mark.parametrize("size", [MAX_ROW_BYTES + 1, 3 * MAX_ROW_BYTES, 5 << 20])
def test_a_row_longer_than_a_row_may_be_is_rejected_alone(size: int) -> None:
    giant = b"x" * size + b",active," + T0 + b"\n"
    data = HEADER + row("a") + giant + row("b")
    parsed = read_source("status", data, batch_bytes=1 << 20)
    assert ids(parsed) == ["a", "b"]
    ((line, reason, raw),) = [
        (r["line"], r["reason"], r["raw"]) for r in parsed.rejects.to_pylist()
    ]
    assert line == 3
    assert f"is {len(giant) - 1:,} bytes long" in reason
    assert f"at most {MAX_ROW_BYTES:,} bytes" in reason
    assert len(raw) < 1100
    assert raw.endswith(f"({len(giant) - 1:,} bytes)")


def test_a_long_last_line_without_a_line_break_is_rejected() -> None:
    parsed = read_source("status", HEADER + row("a") + b"y" * (2 * MAX_ROW_BYTES))
    assert ids(parsed) == ["a"]
    assert rejects(parsed)[0][0] == 3


def test_a_header_longer_than_a_row_refuses_the_file() -> None:
    with pytest.raises(IngestError, match=r"line 1 .* is longer than a row may be"):
        read_source("status", b"store_id," * MAX_ROW_BYTES, name="x.csv")


# --- item 4: NUL bytes -------------------------------------------------------------------


def test_a_nul_byte_rejects_its_row_only() -> None:
    data = HEADER + row("a") + b"b\x00,active," + T0 + b"\n" + row("c")
    parsed = read_source("status", data)
    assert ids(parsed) == ["a", "c"]
    ((line, reason, raw),) = [
        (r["line"], r["reason"], r["raw"]) for r in parsed.rejects.to_pylist()
    ]
    assert line == 3
    assert reason == "contains NUL bytes (binary data, not text)"
    assert "\x00" not in raw
    assert raw.startswith("b\ufffd,active")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (gzip.compress(gzip.compress(HEADER + row("a"))), "compressed twice"),
        (bytes(range(256)) * 64, "not a text file"),
        ("store_id,status\n".encode("utf-16-le"), "UTF-16 text without a byte order mark"),
        (b"BZh91AY&SY" + bytes(100), "bzip2"),
        (b"%PDF-1.7\n", "PDF"),
    ],
)
def test_a_file_that_is_not_csv_text_is_refused_with_what_it_is(data: bytes, message: str) -> None:
    with pytest.raises(IngestError, match=message) as caught:
        read_source("status", data, name="in.csv")
    assert str(caught.value).startswith("in.csv: ")
    assert "\\x" not in str(caught.value)  # no raw bytes in the message


# --- item 5: a byte order mark mid-file --------------------------------------------------


def test_a_byte_order_mark_at_the_start_of_a_line_mid_file_is_dropped() -> None:
    joined = HEADER + row("a") + b"\xef\xbb\xbf" + row("b") + b"x\xef\xbb\xbfy,active," + T0
    parsed = read_source("status", joined)
    assert ids(parsed) == ["a", "b", "x\ufeffy"]  # only at the start of a line


# --- item 15: a stray quote --------------------------------------------------------------


def test_a_stray_quote_costs_its_line_only_and_names_it() -> None:
    data = (
        HEADER + row("a") + b'b,"active,' + T0 + b"\n" + b"".join(row(f"s{i}") for i in range(500))
    )
    parsed = read_source("status", data)
    assert parsed.rows == 502
    assert ids(parsed) == ["a"] + [f"s{i}" for i in range(500)]
    ((line, reason),) = rejects(parsed)
    assert line == 3
    assert "a quote opened on line 3 is not closed" in reason


def test_a_stray_quote_at_the_end_of_the_file_and_between_batches() -> None:
    lines = [row(f"s{i}") for i in range(300)]
    lines[150] = b'"x,active,' + T0 + b"\n"
    lines[299] = b'y,"active,' + T0  # the last line, unterminated
    data = HEADER + b"".join(lines)
    for batch_bytes in (64, 4096, 1 << 20):
        parsed = read_source("status", data, batch_bytes=batch_bytes)
        assert [line for line, _ in rejects(parsed)] == [152, 301], batch_bytes
        assert len(ids(parsed)) == 298


def test_a_quoted_value_over_many_lines_is_one_row_up_to_the_limit() -> None:
    inside = b"\n" * (MAX_QUOTED_LINES - 1)
    data = HEADER + b'"multi' + inside + b'line",active,' + T0 + b"\n" + row("b")
    parsed = read_source("status", data, batch_bytes=16)
    assert ids(parsed) == ["multi" + "\n" * (MAX_QUOTED_LINES - 1) + "line", "b"]
    too_far = HEADER + b'"multi' + inside + b'\nline",active,' + T0 + b"\n" + row("b")
    parsed = read_source("status", too_far, batch_bytes=16)
    assert ids(parsed) == ['line"', "b"]  # past the limit, each line is read on its own
    assert [line for line, _ in rejects(parsed)] == [2]


def test_a_file_with_every_field_quoted_reads_like_a_plain_one() -> None:
    plain = HEADER + b"".join(row(f"s{i}") for i in range(2000)) + row("x", "nope")
    quoted = b"\n".join(
        b",".join(b'"' + field + b'"' for field in line.split(b","))
        for line in plain.rstrip(b"\n").split(b"\n")
    )
    a, b = read_source("status", plain), read_source("status", quoted)
    assert b.table.equals(a.table)
    assert [r[:2] for r in rejects(b)] == [r[:2] for r in rejects(a)]


def test_a_quote_inside_a_field_is_kept_as_text() -> None:
    parsed = read_source("status", HEADER + b'5" tv,active,' + T0 + b"\n" + row("b"))
    assert ids(parsed) == ['5" tv', "b"]


# --- item 16: a real U+FFFD --------------------------------------------------------------


def test_a_written_replacement_character_is_fine_beside_a_bad_byte() -> None:
    data = HEADER + "caf\ufffd,active,".encode() + T0 + b"\n" + b"caf\xe9,active," + T0 + b"\n"
    parsed = read_source("status", data)
    assert ids(parsed) == ["caf\ufffd"]
    assert rejects(parsed) == [
        (3, "contains bytes that are not UTF-8 text (save the file as UTF-8)")
    ]


# --- item 19: gzip with trailing garbage -------------------------------------------------


def test_gzip_with_trailing_garbage_is_read_with_a_warning() -> None:
    parsed = read_source("status", gzip.compress(HEADER + row("a")) + b"\x00\x00garbage")
    assert ids(parsed) == ["a"]
    assert parsed.warnings == (
        "ignored 9 bytes after the end of the gzip data (like gzip -d: trailing garbage)",
    )


def test_several_gzip_members_are_one_file_like_gzip_d() -> None:
    data = gzip.compress(HEADER + row("a")) + gzip.compress(row("b")) + gzip.compress(b"")
    parsed = read_source("status", data)
    assert ids(parsed) == ["a", "b"]
    assert parsed.warnings == ()


@pytest.mark.parametrize("cut", [10, 30, -9])
def test_a_truncated_or_corrupt_gzip_refuses_the_file(cut: int) -> None:
    packed = gzip.compress(HEADER + row("a") * 1000)
    with pytest.raises(IngestError, match="gzip"):
        read_source("status", packed[:cut], name="cut.csv.gz")
    corrupt = packed[:40] + bytes(200) + packed[240:]
    with pytest.raises(IngestError, match=r"cannot be unpacked|truncated"):
        read_source("status", corrupt)


def test_a_gzip_stream_is_unpacked_in_bounded_steps() -> None:
    """No step of the unpacker returns more than its bound (the bomb's defence)."""
    from storemon.ingest._input import UNPACK_BYTES, Input

    data = gzip.compress(b"\n" * (8 * UNPACK_BYTES + 5))
    chunks = list(Input(data, "x", max_text_bytes=1 << 40).chunks())
    assert max(len(chunk) for chunk in chunks) <= UNPACK_BYTES
    assert sum(len(chunk) for chunk in chunks) == 8 * UNPACK_BYTES + 5


# --- issue 14 items 8 and 9: separators, the day column's aliases --------------------------


@pytest.mark.parametrize(("separator", "word"), [(b";", "semicolon"), (b"\t", "tab")])
def test_a_semicolon_or_tab_separated_file_is_read_and_said(separator: bytes, word: str) -> None:
    data = (HEADER + row("a") + row("b", "nope")).replace(b",", separator)
    parsed = read_source("status", data)
    assert ids(parsed) == ["a"]
    assert parsed.warnings == (f"read as a {word}-separated file (the header has no commas)",)
    assert rejects(parsed)[0][0] == 3


def test_the_missing_day_column_names_its_aliases() -> None:
    with pytest.raises(MissingColumnError) as caught:
        read_source("hours", b"store_id,weekday,start_time_local,end_time_local\n")
    assert "'dayOfWeek' (or 'day' or 'day_of_week')" in str(caught.value)
    assert caught.value.aliases == ("day", "day_of_week")


# --- issue 14 item 5: ids a spreadsheet wrote in scientific notation ----------------------


def test_ids_in_scientific_notation_are_loaded_and_flagged() -> None:
    data = HEADER + row("7463734423358941330") + row("8.42E+18") + row("1e+19") + row("8.4E+18")
    parsed = read_source("status", data)
    assert len(ids(parsed)) == 4
    (warning,) = parsed.warnings
    assert warning.startswith(
        "3 store ids look like a number in scientific notation ('8.42E+18' on line 3)"
    )
    assert "export the ids as text" in warning


# --- the rejects -------------------------------------------------------------------------


def test_a_reject_keeps_its_store_id_when_that_field_was_valid() -> None:
    data = HEADER + row("a", "nope") + b",active," + T0 + b"\n" + b"b\x00,active," + T0 + b"\n"
    parsed = read_source("status", data)
    assert parsed.rejects.column("store_id").to_pylist() == ["a", None, None]


def test_raw_text_is_kept_whole_within_a_budget_then_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    from storemon.ingest import csv as csv_module

    monkeypatch.setattr(csv_module, "RAW_BUDGET_BYTES", 12_000)
    wide = "w" * 5000
    data = HEADER + f"{wide},x,y\n{wide},x,y\n{wide},x,y\n".encode() + row("ok")
    raws = read_source("status", data).rejects.column("raw").to_pylist()
    assert raws[:2] == [f"{wide},x,y"] * 2  # whole: 10,008 bytes of the 12,000
    assert raws[2] == f"{wide[:1000]}... (5,004 bytes)"  # the budget is spent
    huge = "h" * (70 << 10)  # over 64 KiB: always cut
    (raw,) = (
        read_source("status", HEADER + f"{huge},x,y\n".encode() + row("ok"))
        .rejects.column("raw")
        .to_pylist()
    )
    assert raw == f"{huge[:1000]}... ({len(huge) + 4:,} bytes)"


def test_rejects_are_counted_all_and_kept_up_to_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from storemon.ingest import csv as csv_module

    monkeypatch.setattr(csv_module, "MAX_REJECTS_KEPT", 3)
    parsed = read_source("status", HEADER + row("a", "x") * 5 + row("b"), batch_bytes=100)
    assert (parsed.rows, parsed.rejected, parsed.rejects.num_rows) == (6, 5, 3)
    assert parsed.rejects.column("line").to_pylist() == [2, 3, 4]
    assert "only the first 3 of 5 rejected rows are kept" in parsed.warnings
    assert MAX_REJECTS_KEPT == 100_000


# --- batches -------------------------------------------------------------------------------


_PIECES = st.sampled_from(
    [
        row("a"),
        row("b", "nope"),
        b"\n",
        b"\r\n",
        b"\r",
        b"   \n",
        b'"q\nq",active,' + T0 + b"\r\n",
        b'"x,active,' + T0 + b"\n",
        b"c\x00,active," + T0 + b"\n",
        b"d\xff,active," + T0 + b"\n",
        b"\xef\xbb\xbf" + row("e"),
        b"short,row\n",
        b'f,"in""side",' + T0 + b"\n",
        b"\n" * 20,
        b"\r\n" * 17,
        b"\r" * 3,
        b'"g","active","' + T0 + b'"\n',
        b'"h,i",active,"' + T0 + b'"\r\n',
        b'"",active,' + T0 + b"\n",
        b'"a,"b",' + T0 + b"\n",
        b'k,5" tv,' + T0 + b"\n",
    ]
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(_PIECES, max_size=40), st.sampled_from([1, 2, 17, 64, 333]))
def test_the_batch_size_changes_nothing(pieces: list[bytes], batch_bytes: int) -> None:
    data = HEADER + b"".join(pieces)
    whole = read_source("status", data)
    with mock.patch.object(_batches, "MAX_BATCH_TERMINATORS", 5):  # few lines per batch too
        batched = read_source("status", data, batch_bytes=batch_bytes)
    assert batched.table.equals(whole.table)
    assert batched.rejects.equals(whole.rejects)
    assert (batched.rows, batched.rejected) == (whole.rows, whole.rejected)


def test_stream_source_hands_on_batches_and_reports_progress(tmp_path: Path) -> None:
    path = tmp_path / "polls.csv.gz"
    path.write_bytes(gzip.compress(HEADER + b"".join(row(f"s{i}") for i in range(3000))))
    tables: list[pa.Table] = []
    seen: list[tuple[int, int | None, int, int]] = []
    read = stream_source(
        "status",
        path,
        tables.append,
        batch_bytes=20_000,
        progress=lambda *counts: seen.append(counts),
    )
    assert len(tables) > 3
    assert sum(table.num_rows for table in tables) == read.loaded == read.rows == 3000
    assert seen[-1] == (path.stat().st_size, path.stat().st_size, 3000, 0)
    assert [counts[2] for counts in seen] == sorted(counts[2] for counts in seen)
    assert read.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_progress_is_told_on_the_callers_thread(tmp_path: Path) -> None:
    """Batches are checked on a helper thread; their progress still reaches the caller's."""
    import threading

    data = HEADER + b"".join(row(f"s{i}") for i in range(3000))
    threads: set[int] = set()
    stream_source(
        "status",
        data,
        lambda table: None,
        batch_bytes=20_000,
        progress=lambda *counts: threads.add(threading.get_ident()),
    )
    assert threads == {threading.get_ident()}


def test_when_a_batch_is_refused_downstream_no_later_batch_is_handed_on() -> None:
    data = HEADER + b"".join(row(f"s{i}") for i in range(3000))
    handed: list[int] = []
    seen: list[int] = []

    def refuse_the_first(table: pa.Table) -> None:
        handed.append(table.num_rows)
        raise RuntimeError("the store is full")

    with pytest.raises(RuntimeError, match="the store is full"):
        stream_source(
            "status",
            data,
            refuse_the_first,
            batch_bytes=20_000,
            progress=lambda *counts: seen.append(counts[2]),
        )
    assert len(handed) == 1  # the batches queued behind it were not checked
    assert seen == []  # nor counted as read


def test_an_earlier_batchs_error_wins_over_a_later_failure_of_the_file() -> None:
    """The first batch is refused downstream while the reader, two batches on, finds the
    file too large: the error that comes first in the file is raised."""
    line = row("s")
    data = HEADER + line * ((3 << 20) // len(line))  # three 1 MiB reads
    handed: list[int] = []

    def refuse(table: pa.Table) -> None:
        handed.append(table.num_rows)
        raise RuntimeError("the store is full")

    with pytest.raises(RuntimeError, match="the store is full") as caught:
        stream_source(
            "status",
            data,
            refuse,
            batch_bytes=512 << 10,  # two batches from the first 1 MiB read
            max_decompressed_bytes=(3 << 20) // 2,  # the second read is too much
        )
    assert isinstance(caught.value.__context__, FileTooLarge)
    assert len(handed) == 1


def test_an_open_binary_file_is_read_like_a_path(tmp_path: Path) -> None:
    data = HEADER + row("a")
    parsed = read_source("status", io.BytesIO(data), name="up.csv")
    assert ids(parsed) == ["a"]
    assert parsed.file == "up.csv"


def test_a_read_failure_is_an_ingest_error() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise OSError(5, "Input/output error")

    with pytest.raises(IngestError, match="cannot be read"):
        read_source("status", io.BufferedReader(Broken()), name="x.csv")
