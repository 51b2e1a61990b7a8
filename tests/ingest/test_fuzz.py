"""Fuzzing the reader: valid CSVs mutated at random (NULs, bad UTF-8, giant rows, stray
quotes, separators, byte order marks, blank lines, line endings, truncation, gzip) and
random bytes after a header. Seeded (derandomize) and bounded: a few seconds.

Invariants: no exception; every row left valid is loaded, in order; every mutated row
is rejected with its own line number; rows = loaded + rejected; the reader's Arrow
memory stays below a bound that does not grow with the input.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storemon.errors import IngestError
from storemon.ingest._records import MAX_ROW_BYTES
from storemon.ingest.csv import stream_source

HEADER = b"store_id,status,timestamp_utc"
STAMPS = (b"2023-01-22 12:09:39.388884 UTC", b"2023-01-22T12:09Z", b"2023-01-22 12:09:39+05:30")
BAD = ("nul", "utf8", "giant", "quote", "separator", "status")
GOOD = ("keep", "keep", "keep", "blank", "bom", "spaces")
#: Arrow memory the reader may hold at once (batch buffers, one batch of columns).
MEMORY_BOUND = 64 << 20


@dataclass
class Expected:
    data: bytes
    loaded: list[str]  # store ids, in order
    rejected: list[int]  # line numbers
    last: tuple[int, str]  # the last row's line and id
    cut: bool  # the file ends inside the last row: it may be loaded or rejected


@st.composite
def mutated_files(draw: st.DrawFn) -> Expected:
    count = draw(st.integers(min_value=1, max_value=30))
    giants = 0
    lines: list[bytes] = [HEADER]
    loaded: list[str] = []
    rejected: list[int] = []
    for index in range(count):
        store = f"s{index}"
        fields = [
            store.encode(),
            draw(st.sampled_from([b"active", b"INACTIVE"])),
            draw(st.sampled_from(STAMPS)),
        ]
        kind = draw(st.sampled_from(GOOD + BAD))
        if kind == "giant" and (giants or draw(st.integers(0, 9)) != 0):
            kind = "status"  # a giant row costs a megabyte: one in ten files has one
        if kind == "blank":
            lines += [b""] * draw(st.integers(min_value=1, max_value=3))
        at = draw(st.integers(min_value=0, max_value=len(fields[0])))
        if kind == "nul":
            fields[0] = fields[0][:at] + b"\x00" + fields[0][at:]
        elif kind == "utf8":
            fields[0] = fields[0][:at] + b"\xff" + fields[0][at:]
        elif kind == "giant":
            giants += 1
            fields.append(b"g" * MAX_ROW_BYTES)
        elif kind == "quote":
            which = draw(st.integers(min_value=0, max_value=2))
            fields[which] = b'"' + fields[which]  # a stray opening quote
        elif kind == "status":
            fields[1] = b"actvie"
        line = b",".join(fields)
        if kind == "separator":
            line = line.replace(b",", b";", 1)
        elif kind == "bom":
            line = b"\xef\xbb\xbf" + line
        elif kind == "spaces":
            lines.append(b"  \t ")
        lines.append(line)
        if kind in BAD:
            rejected.append(len(lines))
        else:
            loaded.append(store)
        last = (len(lines), store)
    ending = draw(st.sampled_from([b"\n", b"\r\n", b"\r", None]))
    if ending is None:  # mixed, per line (never a lone \r, which could pair with a \n)
        data = b"".join(line + draw(st.sampled_from([b"\n", b"\r\n"])) for line in lines)
    else:
        data = ending.join(lines) + draw(st.sampled_from([ending, b""]))
    cut = draw(st.booleans()) and len(lines[-1]) > 1
    if cut:  # truncated inside the last row
        data = data.rstrip(b"\r\n")
        data = data[: len(data) - draw(st.integers(min_value=1, max_value=len(lines[-1]) - 1))]
    elif draw(st.booleans()):
        data = gzip.compress(data, compresslevel=1)
    return Expected(data, loaded, rejected, last, cut)


def _read(data: bytes, batch_bytes: int) -> tuple[list[str], list[int], int, int]:
    """(loaded ids, reject lines, rows, highest Arrow memory seen) of reading ``data``."""
    loaded: list[str] = []
    highest = [pa.total_allocated_bytes()]

    def take(table: pa.Table) -> None:
        highest.append(pa.total_allocated_bytes())
        loaded.extend(table.column("store_id").to_pylist())

    read = stream_source(
        "status",
        data,
        take,
        batch_bytes=batch_bytes,
        max_decompressed_bytes=1 << 30,
        progress=lambda *_: highest.append(pa.total_allocated_bytes()),
    )
    assert read.rows == read.loaded + read.rejected
    assert read.rejects.num_rows == read.rejected
    lines = read.rejects.column("line").to_pylist()
    assert lines == sorted(set(lines))
    return loaded, lines, read.rows, max(highest)  # type: ignore[return-value]


@settings(
    max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(mutated_files(), st.sampled_from([200, 1 << 23]))
def test_mutated_files_keep_every_valid_row_and_reject_the_rest(
    case: Expected, batch_bytes: int
) -> None:
    loaded, lines, rows, memory = _read(case.data, batch_bytes)
    expected_rows = len(case.loaded) + len(case.rejected)
    assert rows == expected_rows
    if case.cut:  # all as expected but the last row, which may go either way
        line, store = case.last
        others = [loaded_id for loaded_id in case.loaded if loaded_id != store]
        assert loaded in (others, [*others, store])
        others_lines = [number for number in case.rejected if number != line]
        assert lines in (others_lines, [*others_lines, line])
        assert (store in loaded) != (line in lines)
    else:
        assert loaded == case.loaded
        assert lines == case.rejected
    assert memory < MEMORY_BOUND


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.binary(max_size=2000), st.sampled_from([b"\n", b"\r\n"]))
def test_random_bytes_after_a_header_never_crash(body: bytes, ending: bytes) -> None:
    try:
        _, lines, rows, memory = _read(HEADER + ending + body, 256)
    except IngestError:  # a whole-file refusal is a fine answer (e.g. binary data)
        return
    assert all(2 <= line <= 2 + body.count(b"\n") + body.count(b"\r") for line in lines)
    assert memory < MEMORY_BOUND
    assert rows >= len(lines)
