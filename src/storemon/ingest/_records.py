"""One batch of CSV text → rows: the wanted fields as strings, and the lines refused whole.

A batch is whole physical lines (see :mod:`._batches`). Its rows come out in line
order with their first physical line; a line is **refused** (rejected before any
row rule) when it holds a NUL byte, bytes that are not UTF-8, more than
:data:`MAX_ROW_BYTES`, a quote that never closes, or another number of fields than
the header. Blank lines (empty, or only spaces and tabs) are no rows. A UTF-8 byte
order mark at the start of a line is dropped, as at the start of the file.

Two paths give the same rows:

- **fast**: a batch with no quote, lone carriage return, NUL, blank line, byte order
  mark, invalid UTF-8, over-long line or short row goes to pyarrow's threaded CSV
  parser as it is; row ``i`` is line ``i``.
- **slow**, for everything else: line bounds from numpy, each line classified;
  lines with an odd number of quotes open a quoted value that may span lines and
  are read with Python's ``csv`` module (strict), up to the next line with an odd
  number of quotes; a value that does not close within :data:`MAX_QUOTED_LINES`
  lines (or the end of the file) is a stray quote: that line alone is refused and
  the next line is read afresh, so a stray quote never swallows the rest of the
  file. The other lines, compacted into one buffer, go to pyarrow; if pyarrow does
  not give exactly one row per line there (its quoting differs from ours on an odd
  line), the lines holding quotes are read with Python's ``csv`` instead.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any, Final, Literal, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from numpy.typing import NDArray

from storemon.ingest._lines import Lines

__all__ = [
    "MAX_QUOTED_LINES",
    "MAX_ROW_BYTES",
    "Layout",
    "Rows",
    "split",
    "too_long",
]

#: The longest row (one physical line, or a quoted record over several), in bytes.
MAX_ROW_BYTES: Final = 1 << 20
#: How many lines a quoted record may span; past them its opening quote counts as stray.
MAX_QUOTED_LINES: Final = 100
# pyarrow's block: longer than any row, so no row ever straddles two blocks.
_BLOCK_BYTES: Final = 2 * MAX_ROW_BYTES
_BOM: Final = b"\xef\xbb\xbf"
_BLANKS: Final = b" \t\x0b\x0c"

Ints = NDArray[np.int64]

NOT_UTF8: Final = "contains bytes that are not UTF-8 text (save the file as UTF-8)"
HAS_NUL: Final = "contains NUL bytes (binary data, not text)"


def too_long(size: int) -> str:
    """The reason for refusing a line of ``size`` bytes."""
    return (
        f"is {size:,} bytes long; a row may be at most {MAX_ROW_BYTES:,} bytes"
        " (a missing line break?)"
    )


@dataclass(frozen=True)
class Layout:
    """The header's shape: how many fields, which ones are wanted, the separator."""

    width: int
    wanted: tuple[int, ...]  # header index of each required column, in rule order
    delimiter: str = ","

    def width_reason(self, found: int) -> str:
        return _width_reason(self.width, found, self.delimiter)


@lru_cache(maxsize=256)
def _width_reason(width: int, found: int, delimiter: str) -> str:
    separators = "commas" if delimiter == "," else "separators"
    return (
        f"expected {width} fields like the header, found {found}"
        f" (check the {separators} and quotes on this line)"
    )


@dataclass(frozen=True)
class Refused:
    """Lines rejected before the row rules: line number, reason and raw text bounds."""

    line: Ints  # absolute line numbers
    reason: pa.Array[Any]  # string
    start: Ints  # raw text of the row: data[start:end]
    end: Ints

    @staticmethod
    def none() -> Refused:
        empty = np.zeros(0, np.int64)
        return Refused(empty, pa.array([], pa.string()), empty, empty)


@dataclass(frozen=True)
class Rows:
    """The rows of one batch, and how much of the batch they used."""

    columns: list[pa.ChunkedArray[Any]]  # one string column per wanted field
    line: Ints  # first physical line of each row (absolute)
    spans: Ints  # physical lines after the first that each row takes
    refused: Refused
    consumed_bytes: int  # bytes of the batch read; the rest comes again in the next batch
    consumed_lines: int
    bounds: Callable[[Ints], tuple[Ints, Ints]]  # rows -> raw text bounds in the batch

    @property
    def count(self) -> int:
        """Rows given plus lines refused."""
        return len(self.line) + len(self.refused.line)


def split(
    data: bytes, first_line: int, final: bool, layout: Layout, newlines: int | None = None
) -> Rows:
    """The rows of ``data`` (whole lines; ``final`` when it ends the file; ``newlines``,
    when known, how many ``\n`` it holds)."""
    return (
        _fast(data, first_line, layout, newlines) or _Slow(data, first_line, final, layout).rows()
    )


def _fast(data: bytes, first_line: int, layout: Layout, newlines: int | None = None) -> Rows | None:
    """The whole batch parsed by pyarrow, when every line is certainly one plain row.

    Only single-byte searches (memchr-fast) run before the parse; a lone ``\\r`` makes
    pyarrow see more rows than there are ``\\n`` (caught by the count), a blank line an
    all-empty row (caught by the empty-field test), a short line an invalid row. Quotes
    are taken when they only quote whole fields (:func:`_whole_fields_quoted`): then a
    quoted line break would make pyarrow see fewer rows (caught by the count).
    """
    if not data or b"\x00" in data:
        return None
    if b'"' in data and not _whole_fields_quoted(data, layout.delimiter):
        return None
    if not data.isascii():
        if _BOM in data:
            return None
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    window = MAX_ROW_BYTES // 2  # a line break in every window: no line above MAX_ROW_BYTES
    if any(data.find(b"\n", at, at + window) == -1 for at in range(0, len(data), window)):
        return None
    count = (data.count(b"\n") if newlines is None else newlines) + (not data.endswith(b"\n"))
    # One thread: the reader checks the batch before on another thread meanwhile, and
    # unpacks the next on a third (pyarrow's own threads on top measured slower, 2 cores).
    parsed = _arrow(data, layout, threads=False, strict=True)
    if parsed is None or parsed[1] or parsed[0].num_rows != count:
        return None
    first = parsed[0].column(f"f{layout.wanted[0]}")
    if pc.min(pc.binary_length(first)).as_py() == 0:  # a blank line, maybe
        return None
    table = parsed[0]
    lines: list[Lines] = []

    def bounds(rows: Ints) -> tuple[Ints, Ints]:
        if not lines:
            lines.append(Lines.of(data))
        return lines[0].start[rows], lines[0].end[rows]

    return Rows(
        columns=[table.column(f"f{i}") for i in layout.wanted],
        line=first_line + np.arange(count, dtype=np.int64),
        spans=np.zeros(count, np.int64),
        refused=Refused.none(),
        consumed_bytes=len(data),
        consumed_lines=count,
        bounds=bounds,
    )


def _whole_fields_quoted(data: bytes, delimiter: str) -> bool:
    """Whether the quotes of ``data``, taken in pairs, each open at the start of a field
    and close at its end (``"a","b"`` or ``a,""``): no quote inside a value, none left
    open. With pyarrow then giving one row per line, each line's quotes pair up within
    it, as the slow path would find."""
    chars = np.frombuffer(data, np.uint8)
    quotes = np.flatnonzero(chars == ord('"'))
    if len(quotes) % 2:
        return False
    edges = np.frombuffer(f"{delimiter}\n\r".encode(), np.uint8)
    opening, closing = quotes[0::2], quotes[1::2]
    before = chars[np.maximum(opening - 1, 0)]
    after = chars[np.minimum(closing + 1, len(chars) - 1)]
    return bool(
        np.all((opening == 0) | np.isin(before, edges))
        and np.all((closing == len(chars) - 1) | np.isin(after, edges))
    )


@dataclass
class _Parsed:
    """Rows read with Python's csv module: first line, last line, the wanted fields."""

    first: list[int]
    last: list[int]
    fields: list[list[str]]


class _Slow:
    """The exact path: every line classified, quoted spans resolved, the rest to pyarrow."""

    def __init__(self, data: bytes, first_line: int, final: bool, layout: Layout) -> None:
        self.data = data
        self.first_line = first_line
        self.final = final
        self.layout = layout
        self.lines = Lines.of(data)
        count = self.lines.count
        self.start = self.lines.start.copy()  # moved past a byte order mark
        self.end = self.lines.end
        self.stop = self.lines.stop
        self.code = np.zeros(count, np.int64)  # refused lines: index into self.messages
        self.messages: dict[str, int] = {"": 0}  # each reason once, with its code
        self.taken = np.zeros(count, bool)  # read by Python's csv, or refused
        self.quoted: NDArray[np.bool_] | None = None  # lines holding a quote
        self.parsed = _Parsed([], [], [])
        self.last = np.arange(count, dtype=np.int64)  # last line of a refused row
        self._bounds: tuple[list[int], list[int]] = ([], [])  # start, stop (lists, for loops)
        self.until = count  # lines from here on are left for the next batch

    def rows(self) -> Rows:
        if self.lines.count:
            self._classify()
            self._quotes()
        kept = np.flatnonzero(~self.taken & ~self._blank())
        kept = self._widths(kept[kept < self.until])
        columns, valid = self._arrow_rows(kept)
        return self._rows(columns, valid)

    # -- classification ------------------------------------------------------------------
    def _classify(self) -> None:
        data, chars = self.data, np.frombuffer(self.data, np.uint8)
        if _BOM in data:
            head = self.start[self.end - self.start >= len(_BOM)]
            at = head[
                (chars[head] == _BOM[0])
                & (chars[head + 1] == _BOM[1])
                & (chars[head + 2] == _BOM[2])
            ]
            self.start[np.searchsorted(self.lines.start, at)] += len(_BOM)
        for row in np.flatnonzero(self.end - self.start > MAX_ROW_BYTES):
            self._refuse(np.array([row]), too_long(int(self.end[row] - self.start[row])))
        if b"\x00" in data:
            self._refuse(self._line_of(np.flatnonzero(chars == 0)), HAS_NUL)
        if not data.isascii():
            self._refuse(self._not_utf8(), NOT_UTF8)

    def _refuse(self, rows: Ints, reason: str) -> None:
        """Refuse ``rows`` for ``reason``, unless they are refused already."""
        rows = rows[self.code[rows] == 0]
        if len(rows):
            self.code[rows] = self.messages.setdefault(reason, len(self.messages))
            self.taken[rows] = True

    def _refuse_line(self, row: int, reason: str) -> None:
        """:meth:`_refuse` for one line (no arrays: called once per stray quote)."""
        if self.code[row] == 0:
            self.code[row] = self.messages.setdefault(reason, len(self.messages))
            self.taken[row] = True

    def _line_of(self, positions: Ints) -> Ints:
        return np.searchsorted(self.stop, positions, side="right").astype(np.int64)

    def _not_utf8(self) -> Ints:
        """Lines holding bytes that are not UTF-8 (a U+FFFD written as such is fine)."""
        try:
            self.data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return np.zeros(0, np.int64)
        # Decoding with "replace" turns each bad sequence into U+FFFD and keeps every line
        # break, so a line has bad bytes iff it holds more U+FFFD after decoding than before.
        fixed = self.data.decode("utf-8", "replace").encode("utf-8")
        before = _replacements_per_line(self.data, self.lines)
        after = _replacements_per_line(fixed, Lines.of(fixed))
        return np.flatnonzero(after > before).astype(np.int64)

    def _blank(self) -> NDArray[np.bool_]:
        length = self.end - self.start
        blank = length == 0
        candidates = np.flatnonzero(length > 0)
        if len(candidates):
            chars = np.frombuffer(self.data, np.uint8)
            first = chars[self.start[candidates]]
            candidates = candidates[np.isin(first, np.frombuffer(_BLANKS, np.uint8))]
        if len(candidates):
            chars = np.frombuffer(self.data, np.uint8)
            solid = np.cumsum(~np.isin(chars, np.frombuffer(_BLANKS, np.uint8)), dtype=np.int64)
            solid = np.concatenate([[0], solid])
            inside = solid[self.end[candidates]] - solid[self.start[candidates]]
            blank[candidates[inside == 0]] = True
        return np.asarray(blank & ~self.taken, bool)

    def _widths(self, kept: Ints) -> Ints:
        """Refuse the kept lines without quotes that have another number of fields than the
        header (counted here, not by pyarrow's per-row callback); the rest."""
        chars = np.frombuffer(self.data, np.uint8)
        separators = self._line_of(np.flatnonzero(chars == ord(self.layout.delimiter)))
        fields = np.bincount(separators, minlength=self.lines.count)[kept] + 1
        wrong = fields != self.layout.width
        if self.quoted is not None:
            wrong &= ~self.quoted[kept]
        for found in np.unique(fields[wrong]):
            self._refuse(kept[wrong & (fields == found)], self.layout.width_reason(int(found)))
        return np.asarray(kept[~wrong], np.int64)

    # -- quotes ----------------------------------------------------------------------------
    def _quotes(self) -> None:
        if b'"' not in self.data:
            return
        chars = np.frombuffer(self.data, np.uint8)
        per_line = np.bincount(
            self._line_of(np.flatnonzero(chars == ord('"'))), minlength=self.lines.count
        )
        self.quoted = per_line > 0
        odd = np.flatnonzero((per_line % 2 == 1) & (self.code == 0)).tolist()
        if not odd:
            return
        # plain lists: this loop reads them one at a time (numpy scalars are slow)
        self._bounds = (self.start.tolist(), self.stop.tolist())
        bad_before = np.concatenate([[0], np.cumsum(self.code > 0)]).tolist()
        position = 0
        while position < len(odd):
            opening = odd[position]
            closing = odd[position + 1] if position + 1 < len(odd) else None
            if closing is not None and self._span(opening, closing, bad_before):
                position += 2
                continue
            if closing is None and self._carry(opening):
                self.until = opening
                return
            self._single(opening)
            position += 1

    def _span(self, opening: int, closing: int, bad_before: list[int]) -> bool:
        """Read lines ``opening..closing`` as one quoted record, if they are one."""
        if closing - opening >= MAX_QUOTED_LINES:
            return False
        start, stop = self._bounds
        if stop[closing] - start[opening] > MAX_ROW_BYTES:
            return False
        if bad_before[closing] - bad_before[opening + 1] > 0:  # a refused line inside
            return False
        fields = self._csv(opening, closing)
        if fields is None:  # no clean record: the opening quote is stray
            return False
        if len(fields) != self.layout.width:
            self.taken[opening : closing + 1] = True
            self.last[opening] = closing
            self._refuse_line(opening, self.layout.width_reason(len(fields)))
        else:
            self._take(opening, closing, fields)
        return True

    def _carry(self, opening: int) -> bool:
        """Whether the quote opened on ``opening`` may close in the next batch."""
        if self.final:
            return False
        lines_left = self.lines.count - opening
        bytes_left = self._bounds[1][-1] - self._bounds[0][opening]
        return lines_left < MAX_QUOTED_LINES and bytes_left <= MAX_ROW_BYTES

    def _single(self, row: int) -> None:
        """A line whose quote is stray (never closes): read alone, refused if unreadable."""
        fields = self._csv(row, row)
        if fields is None:
            self._refuse_line(
                row,
                f"a quote opened on line {self.first_line + row} is not closed within "
                f"{MAX_QUOTED_LINES} lines nor before the end of the file; the lines after it "
                "are read on their own (check the quotes on this line)",
            )
        elif len(fields) != self.layout.width:
            self._refuse_line(row, self.layout.width_reason(len(fields)))
        else:
            self._take(row, row, fields)

    def _csv(self, first: int, last: int) -> list[str] | None:
        """Lines ``first..last`` read as exactly one record by Python's csv, or None."""
        start, stop = self._bounds
        text = self.data[start[first] : stop[last]].decode("utf-8")
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=self.layout.delimiter, strict=True
        )
        try:
            records = [record for record in reader if record]
        except csv.Error:
            return None
        return records[0] if len(records) == 1 else None

    def _take(self, first: int, last: int, fields: list[str]) -> None:
        self.taken[first : last + 1] = True
        self.parsed.first.append(first)
        self.parsed.last.append(last)
        self.parsed.fields.append([fields[i] for i in self.layout.wanted])

    # -- rows ------------------------------------------------------------------------------
    def _arrow_rows(self, kept: Ints) -> tuple[list[pa.ChunkedArray[Any]], Ints]:
        """The kept lines through pyarrow: (columns, line of each row)."""
        quoted = self.quoted
        while True:
            if len(kept) == 0:
                return [pa.chunked_array([], pa.string()) for _ in self.layout.wanted], kept
            parsed = _arrow(self._compact(kept), self.layout, threads=True)
            if parsed is not None and parsed[1]:
                parsed = _arrow(self._compact(kept), self.layout, threads=False)
            if parsed is not None:
                table, invalid = parsed
                if table.num_rows + len(invalid) == len(kept):
                    break
            if (
                quoted is None or not quoted[kept].any()
            ):  # cannot happen: pyarrow failed on plain lines
                for row in kept:
                    self._single(int(row))
                return [pa.chunked_array([], pa.string()) for _ in self.layout.wanted], kept[:0]
            for row in kept[quoted[kept]]:  # our quoting and pyarrow's differ: ours decides
                self._single(int(row))
            kept = kept[~quoted[kept]]
        bad = np.zeros(len(kept), bool)
        for record, found in invalid:
            bad[record] = True
            self._refuse(kept[record : record + 1], self.layout.width_reason(found))
        return [table.column(f"f{i}") for i in self.layout.wanted], kept[~bad]

    def _compact(self, kept: Ints) -> bytes:
        """The kept lines (byte order marks dropped), terminators included, in one buffer."""
        start, stop = self.start[kept], self.stop[kept]
        if len(kept) == self.lines.count and np.array_equal(start, self.lines.start):
            return self.data
        if np.array_equal(start[1:], stop[:-1]):
            return self.data[int(start[0]) : int(stop[-1])]
        edges = np.zeros(len(self.data) + 1, np.int8)
        edges[start] += 1  # starts are distinct, and so are stops
        edges[stop] -= 1
        keep = np.cumsum(edges[:-1], dtype=np.int8).astype(bool)
        return bytes(np.frombuffer(self.data, np.uint8)[keep].tobytes())

    def _rows(self, columns: list[pa.ChunkedArray[Any]], valid: Ints) -> Rows:
        parsed = self.parsed
        first = np.concatenate([valid, np.array(parsed.first, np.int64)])
        last = np.concatenate([valid, np.array(parsed.last, np.int64)])
        if parsed.first:
            extra = list(zip(*parsed.fields, strict=True))
            columns = [
                pa.chunked_array([*column.chunks, pa.array(values, pa.string())], pa.string())
                for column, values in zip(columns, extra, strict=True)
            ]
            order = np.argsort(first, kind="stable")
            first, last = first[order], last[order]
            columns = [column.take(order) for column in columns]
        refused_rows = np.flatnonzero(self.code[: self.until] > 0).astype(np.int64)
        reasons = pa.array(list(self.messages), pa.string()).take(self.code[refused_rows])
        start, end = self.start, self.end
        consumed_bytes = (
            len(self.data) if self.until == self.lines.count else int(self.lines.start[self.until])
        )
        return Rows(
            columns=columns,
            line=self.first_line + first,
            spans=last - first,
            refused=Refused(
                self.first_line + refused_rows,
                reasons,
                start[refused_rows],
                end[self.last[refused_rows]],
            ),
            consumed_bytes=consumed_bytes,
            consumed_lines=self.until,
            bounds=lambda rows: (start[first[rows]], end[last[rows]]),
        )


def _replacements_per_line(data: bytes, lines: Lines) -> Ints:
    """How many U+FFFD (EF BF BD) each line of ``data`` holds."""
    chars = np.frombuffer(data, np.uint8)
    if len(chars) < 3:
        return np.zeros(lines.count, np.int64)
    at = np.flatnonzero(chars[:-2] == 0xEF)
    at = at[(chars[at + 1] == 0xBF) & (chars[at + 2] == 0xBD)]
    line = np.searchsorted(lines.stop, at, side="right")
    return np.bincount(line, minlength=lines.count).astype(np.int64)


def _arrow(
    buffer: bytes, layout: Layout, *, threads: bool, strict: bool = False
) -> tuple[pa.Table, list[tuple[int, int]]] | None:
    """``buffer`` parsed by pyarrow: (table, [(record index, fields found)] of bad-width rows).

    None when pyarrow cannot read it (the callers then read it another way), or, with
    ``strict``, at the first row of another width. The record index of a bad row is only
    known single-threaded (-1 otherwise).
    """
    invalid: list[tuple[int, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> Literal["skip", "error"]:
        if strict:
            return "error"
        number = row.number if row.number is not None and row.number > 0 else 0
        invalid.append((number - 1, row.actual_columns))
        return "skip"

    names = [f"f{i}" for i in range(layout.width)]
    include = [names[i] for i in sorted(set(layout.wanted))]
    try:
        table = pacsv.read_csv(
            cast("IO[bytes]", pa.BufferReader(buffer)),
            read_options=pacsv.ReadOptions(
                use_threads=threads, column_names=names, block_size=_BLOCK_BYTES
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=layout.delimiter,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in include},
                include_columns=include,
                check_utf8=False,
            ),
        )
    except pa.ArrowException:
        return None
    return table, invalid
