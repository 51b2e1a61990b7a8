"""Read and validate one CSV source: typed rows in file order plus the rejected rows.

:func:`read_source` never stops at a bad row. Whole-file problems (missing
file, not text, no header, a required column missing) raise
:class:`~storemon.errors.IngestError`; everything else becomes one entry in
:attr:`ParsedFile.rejects` with the row's physical line number (the header is
line 1), a reason that says what was expected, and the line's text.

Blank lines (empty or only blanks) are skipped silently and are not counted
as rows; they still count for line numbers. Lines end at ``\\n``, ``\\r\\n``
or a lone ``\\r``; a quoted value may span lines.

Speed: the file is parsed by pyarrow's threaded CSV reader with every column
as a string (blank lines kept as empty rows, so rows and lines stay aligned),
and validated column-wise (see :mod:`._rules`). Line numbers are ``row + 2``
unless a quoted value spans lines or a row has the wrong number of fields;
then they are recovered exactly from the line breaks inside values and the
record numbers of a single-threaded re-parse (needed for the last case only).
"""

from __future__ import annotations

import csv as _pycsv
import gzip
import os
import zlib
from dataclasses import dataclass
from typing import IO, Any, Final, Literal, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from numpy.typing import NDArray

from storemon.errors import IngestError, MissingColumnError
from storemon.ingest import _rules
from storemon.ingest._lines import LineIndex
from storemon.schema import REJECTS, SCHEMAS, Source

__all__ = ["ParsedFile", "read_source"]

_BOM: Final = b"\xef\xbb\xbf"
_NOT_UTF8: Final = "contains bytes that are not UTF-8 text (save the file as UTF-8)"


@dataclass(frozen=True)
class ParsedFile:
    """The outcome of reading one CSV source."""

    source: Source  # "status" | "hours" | "timezones"
    file: str  # the name used in messages (path as given, or the `name` argument)
    table: pa.Table  # schema.SCHEMAS[source]: the valid rows, in file order
    rejects: pa.Table  # schema.REJECTS: source, file, line, reason, raw
    rows: int  # data rows read (valid + rejected); blank lines are not rows


@dataclass(frozen=True)
class _Invalid:
    """A row pyarrow could not split into the header's number of fields."""

    number: int | None  # 1-based record number after the header (single-threaded parse only)
    fields: int
    text: str


def read_source(
    source: Source, data: str | os.PathLike[str] | bytes, *, name: str | None = None
) -> ParsedFile:
    """Read and validate one CSV source from a path (``.gz`` or plain) or from bytes.

    ``name`` is the file name used in messages (default: the path as given, or
    ``<bytes>``). Raises :class:`~storemon.errors.MissingColumnError` when the
    header lacks a required column and :class:`~storemon.errors.IngestError`
    when the file cannot be read as a CSV text file at all.
    """
    if source not in _rules.COLUMNS:
        raise ValueError(f"unknown source {source!r}")
    if isinstance(data, bytes):
        file = name if name is not None else "<bytes>"
        raw = data
    else:
        file = name if name is not None else os.fspath(data)
        raw = _read_file(data, file)
    text = _as_text(_decompress(raw, file), file)
    return _Reader(source, file, text).read()


class _Reader:
    """One read of one file; split into steps so each stays small."""

    def __init__(self, source: Source, file: str, text: bytes) -> None:
        self.source: Source = source
        self.file = file
        self.bad_encoding = False
        if not text.isascii():
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                text = text.decode("utf-8", "replace").encode("utf-8")
                self.bad_encoding = True
        self.text = text
        self._lines: LineIndex | None = None
        self.body_start = 0

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines

    def read(self) -> ParsedFile:
        header, body_start = self._header()
        self.body_start = body_start
        wanted = self._wanted_columns(header)
        body = pa.py_buffer(self.text).slice(body_start)
        has_quotes = self.text.find(b'"', body_start) != -1  # a quoted header is harmless
        width = len(header)
        names = [f"f{i}" for i in range(width)]
        # With quotes a record may span lines: read every column to count its newlines.
        include = names if has_quotes else [names[i] for i in sorted(set(wanted))]
        if body.size == 0:
            table = pa.table({n: pa.array([], pa.string()) for n in include})
            invalid: list[_Invalid] = []
        else:
            table, invalid = _parse(body, names, include, has_quotes, threads=True)
            if invalid:  # positions of bad rows are only known single-threaded
                table, invalid = _parse(body, names, include, has_quotes, threads=False)
        return self._finish(table, invalid, header, wanted, has_quotes)

    def _header(self) -> tuple[list[str], int]:
        """The header fields (trimmed) and where the body starts."""
        cut = len(self.text)
        for terminator in (b"\n", b"\r"):
            found = self.text.find(terminator)
            if found != -1:
                cut = min(cut, found)
        line = self.text[:cut].decode("utf-8")
        start = min(len(self.text), cut + (2 if self.text[cut : cut + 2] == b"\r\n" else 1))
        expected = ",".join(column for column, _ in _rules.COLUMNS[self.source])
        if not line.strip():
            raise IngestError(
                f"{self.file}: line 1 is empty; it must be the header, e.g. '{expected}'"
            )
        if line.count('"') % 2:
            raise IngestError(f"{self.file}: the header on line 1 has an unclosed quote")
        fields = next(_pycsv.reader([line]))
        return [field.strip() for field in fields], start

    def _wanted_columns(self, header: list[str]) -> list[int]:
        """Header index of each required column, in rule order (first match wins)."""
        lowered = [field.lower() for field in header]
        positions = []
        for column, accepted in _rules.COLUMNS[self.source]:
            found = [i for i, field in enumerate(lowered) if field in accepted]
            if not found:
                raise MissingColumnError(self.file, column, header)
            positions.append(found[0])
        return positions

    def _finish(
        self,
        table: pa.Table,
        invalid: list[_Invalid],
        header: list[str],
        wanted: list[int],
        has_quotes: bool,
    ) -> ParsedFile:
        n = table.num_rows
        line, spans = self._row_lines(table, invalid, has_quotes)
        columns = [table.column(f"f{i}") for i in wanted]
        blank = self._blank_rows(columns, line)
        checked = _rules.check(self.source, columns, [header[i] for i in wanted])
        problems = list(checked.problems)
        if self.bad_encoding:
            problems.insert(0, self._encoding_problems(line[:n], spans[:n]))
        problem_rows, reasons = _join_reasons(problems)
        keep = ~blank
        keep[problem_rows] = False
        typed = checked.columns
        if not keep.all():
            typed = {name: pc.filter(column, pa.array(keep)) for name, column in typed.items()}
        schema = SCHEMAS[self.source]
        good = pa.Table.from_arrays([typed[field.name] for field in schema], schema=schema)

        shown = ~blank[problem_rows]
        bad_rows = problem_rows[shown]
        reject_lines = [line[bad_rows]]
        reject_reasons = [reasons.filter(shown)]
        reject_raws = [self._raw(line[bad_rows], spans[bad_rows])]
        bad_shape = self._invalid_rejects(invalid, line[n:], spans[n:], len(header))
        if bad_shape is not None:
            reject_lines.append(bad_shape[0])
            reject_reasons.append(bad_shape[1])
            reject_raws.append(bad_shape[2])
        all_lines = np.concatenate(reject_lines)
        order = np.argsort(all_lines, kind="stable")
        count = len(all_lines)
        rejects = pa.Table.from_arrays(
            [
                pa.array([self.source] * count, pa.string()),
                pa.array([self.file] * count, pa.string()),
                pa.array(all_lines[order], pa.int64()),
                pa.concat_arrays(reject_reasons).take(order),
                pa.concat_arrays(reject_raws).take(order),
            ],
            schema=REJECTS,
        )
        rows = int(keep.sum()) + count
        return ParsedFile(self.source, self.file, good, rejects, rows)

    def _row_lines(
        self, table: pa.Table, invalid: list[_Invalid], has_quotes: bool
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """First physical line and extra lines spanned, for valid rows then invalid rows."""
        n, k = table.num_rows, len(invalid)
        if not has_quotes and not invalid:
            return np.arange(2, n + 2, dtype=np.int64), np.zeros(n, np.int64)
        records = n + k
        is_invalid = np.zeros(records, bool)
        invalid_records = np.array([bad.number for bad in invalid], np.int64) - 1
        is_invalid[invalid_records] = True
        record_of = np.concatenate([np.flatnonzero(~is_invalid), invalid_records])
        extra = np.zeros(records, np.int64)
        if has_quotes and self._body_lines() != records:  # some quoted value spans lines
            for column in table.columns:
                extra[~is_invalid] += _newlines(column)
            extra[invalid_records] = [_count_newlines(bad.text) for bad in invalid]
        first = (
            2 + np.arange(records, dtype=np.int64) + np.concatenate([[0], np.cumsum(extra)[:-1]])
        )
        return first[record_of], extra[record_of]

    def _body_lines(self) -> int:
        """Physical lines after the header (cheap byte counts, no copy)."""
        text, start = self.text, self.body_start
        breaks = text.count(b"\n", start)
        if text.find(b"\r", start) != -1:
            breaks += text.count(b"\r", start) - text.count(b"\r\n", start)
        unterminated = len(text) > start and text[-1:] not in (b"\n", b"\r")
        return breaks + unterminated

    def _blank_rows(
        self, columns: list[pa.ChunkedArray[Any]], line: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        """Rows that came from blank lines (pyarrow yields all-empty rows for them)."""
        n = len(columns[0])
        blank = np.zeros(n, bool)
        # a blank line has an empty first field; its raw text decides
        candidates = np.flatnonzero(np.asarray(pc.equal(columns[0], pa.scalar("")), np.bool_))
        if len(candidates):
            text = self._raw(line[candidates], np.zeros(len(candidates), np.int64))
            blank[candidates] = np.asarray(
                pc.equal(pc.utf8_trim_whitespace(text), pa.scalar("")), dtype=np.bool_
            )
        return blank

    def _encoding_problems(
        self, line: NDArray[np.int64], spans: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], pa.Array[Any]]:
        rows = np.flatnonzero(self.lines.has_replacement(line, spans)).astype(np.int64)
        return rows, pa.array([_NOT_UTF8] * len(rows), pa.string())

    def _invalid_rejects(
        self,
        invalid: list[_Invalid],
        line: NDArray[np.int64],
        spans: NDArray[np.int64],
        width: int,
    ) -> tuple[NDArray[np.int64], pa.Array[Any], pa.Array[Any]] | None:
        shown = [i for i, bad in enumerate(invalid) if bad.text.strip()]
        if not shown:
            return None
        picked = np.array(shown, np.int64)
        bad_text = (
            self.lines.has_replacement(line[picked], spans[picked]) if self.bad_encoding else None
        )
        reasons = []
        for j, i in enumerate(shown):
            fields = invalid[i].fields
            if bad_text is not None and bad_text[j]:
                reasons.append(_NOT_UTF8)
            else:
                reasons.append(
                    f"expected {width} fields like the header, found {fields}"
                    " (check the commas and quotes on this line)"
                )
        raw = self._raw(line[picked], spans[picked])
        return line[picked], pa.array(reasons, pa.string()), raw

    def _raw(self, line: NDArray[np.int64], spans: NDArray[np.int64]) -> pa.Array[Any]:
        if len(line) == 0:
            return pa.array([], pa.string())
        return self.lines.text(line, spans)


def _parse(
    body: pa.Buffer, names: list[str], include: list[str], has_quotes: bool, *, threads: bool
) -> tuple[pa.Table, list[_Invalid]]:
    invalid: list[_Invalid] = []

    def on_invalid(row: pacsv.InvalidRow) -> Literal["skip"]:
        invalid.append(_Invalid(row.number, row.actual_columns, row.text))
        return "skip"

    table = pacsv.read_csv(
        cast("IO[bytes]", pa.BufferReader(body)),
        read_options=pacsv.ReadOptions(use_threads=threads, column_names=names, block_size=4 << 20),
        parse_options=pacsv.ParseOptions(
            newlines_in_values=has_quotes, ignore_empty_lines=False, invalid_row_handler=on_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in include},
            include_columns=include,
            check_utf8=False,
        ),
    )
    return table, invalid


def _read_file(path: str | os.PathLike[str], file: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise IngestError(f"{file}: no such file (check the path)") from None
    except IsADirectoryError:
        raise IngestError(f"{file}: is a directory, expected a CSV file") from None
    except PermissionError:
        raise IngestError(f"{file}: permission denied (check the file's permissions)") from None
    except OSError as error:
        raise IngestError(f"{file}: cannot be read ({error.strerror or error})") from None


def _decompress(raw: bytes, file: str) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise IngestError(f"{file}: looks gzipped but cannot be unpacked ({error})") from None


def _as_text(raw: bytes, file: str) -> bytes:
    """Refuse what is not a CSV text file; drop a UTF-8 byte order mark."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(f"{file}: is UTF-16 text; save it as UTF-8 CSV")
    if raw.startswith(b"PK\x03\x04"):
        raise IngestError(f"{file}: is a zip archive; extract the CSV file first")
    if b"\x00" in raw:
        raise IngestError(
            f"{file}: is not a text file (it contains NUL bytes); expected a UTF-8 CSV"
        )
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if not raw or raw.isspace():
        raise IngestError(f"{file}: is empty; expected a header line and rows")
    return raw


def _newlines(column: pa.ChunkedArray[Any]) -> NDArray[np.int64]:
    """Line breaks inside each value (\\r\\n, \\n or a lone \\r count once)."""
    count = np.asarray(pc.count_substring(column, "\n"), dtype=np.int64)
    count += np.asarray(pc.count_substring(column, "\r"), dtype=np.int64)
    count -= np.asarray(pc.count_substring(column, "\r\n"), dtype=np.int64)
    return count


def _count_newlines(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _join_reasons(
    problems: list[tuple[NDArray[np.int64], pa.Array[Any]]],
) -> tuple[NDArray[np.int64], pa.Array[Any]]:
    """The rows with problems (ascending) and one reason each; several are joined with '; '."""
    rows = np.concatenate([p[0] for p in problems] + [np.zeros(0, np.int64)])
    if len(rows) == 0:
        return rows, pa.array([], pa.string())
    messages = pa.concat_arrays([p[1].cast(pa.string()) for p in problems])
    grouped = (
        pa.table({"row": rows, "message": messages})
        .group_by("row", use_threads=False)
        .aggregate([("message", "list")])
        .sort_by("row")
    )
    joined = cast("pa.ChunkedArray[Any]", pc.binary_join(grouped.column("message_list"), "; "))
    return np.asarray(grouped.column("row"), np.int64), joined.combine_chunks()
