"""Read and validate one CSV source in bounded batches: typed rows plus rejected rows.

:func:`stream_source` reads a file (a path, its bytes or an open binary file; plain
or gzip) batch by batch (:mod:`._batches`): each batch is split into rows
(:mod:`._records`), checked by the source's rules (:mod:`._rules`), and its valid
rows are handed to a callback as a table of ``schema.SCHEMAS[source]`` — so memory
follows the batch, not the file. :func:`read_source` collects them into one table.

Whole-file problems (missing file, not text, no header, a required column missing,
text over the size limit, a broken gzip stream) raise
:class:`~storemon.errors.IngestError`; everything else becomes one reject with the
row's physical line number (the header is line 1), a reason that says what was
expected, the line's text (whole up to 64 KiB, for the first 16 MiB of them; else
cut at :data:`~._lines.RAW_CHARS` characters) and the row's store id when that field
itself was valid. Blank lines (empty or only
spaces and tabs) are no rows but count for line numbers. Lines end at ``\\n``,
``\\r\\n`` or a lone ``\\r``; a quoted value may span lines. At most
:data:`MAX_REJECTS_KEPT` rejects are kept per file (all are counted).

The header may separate its fields by semicolons or tabs instead of commas (a
spreadsheet's export in some locales): the file is then read with that separator,
and a warning says so.
"""

from __future__ import annotations

import csv as _pycsv
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon.errors import IngestError, MissingColumnError
from storemon.ingest import _batches, _rules
from storemon.ingest._batches import Batch, Batcher, LongLine
from storemon.ingest._input import Input, InputData, refuse_binary
from storemon.ingest._lines import RAW_BUDGET_BYTES, RAW_WHOLE_BYTES, excerpt
from storemon.ingest._records import Layout, Rows, split, too_long
from storemon.schema import REJECTS, SCHEMAS, Source

__all__ = [
    "MAX_REJECTS_KEPT",
    "FileRead",
    "ParsedFile",
    "file_name",
    "read_source",
    "stream_source",
    "text_limit",
]

#: Rejects kept per file (for the database and the summary); the rest are only counted.
MAX_REJECTS_KEPT: Final = 100_000

_BOM: Final = b"\xef\xbb\xbf"
_SNIFF_BYTES: Final = 4096
_SEPARATOR_NAMES: Final = {";": "semicolon", "\t": "tab"}


@dataclass(frozen=True)
class FileRead:
    """What reading one file gave, besides its valid rows (see :func:`stream_source`)."""

    source: Source
    file: str  # the name used in messages
    rows: int  # data rows read (valid + rejected); blank lines are not rows
    loaded: int  # valid rows
    rejected: int  # rejected rows (all counted; at most MAX_REJECTS_KEPT kept)
    rejects: pa.Table  # schema.REJECTS: the kept rejects, in line order
    warnings: tuple[str, ...]  # things worth saying that refused nothing
    sha256: str  # of the file's bytes as given
    bytes_read: int  # bytes of the file as given
    bytes_total: int | None  # the file's size, when known


@dataclass(frozen=True)
class ParsedFile:
    """The outcome of reading one CSV source whole (:func:`read_source`)."""

    source: Source  # "status" | "hours" | "timezones"
    file: str  # the name used in messages (path as given, or the `name` argument)
    table: pa.Table  # schema.SCHEMAS[source]: the valid rows, in file order
    rejects: pa.Table  # schema.REJECTS, the kept rejects (at most MAX_REJECTS_KEPT)
    rows: int  # data rows read (valid + rejected); blank lines are not rows
    rejected: int  # rejected rows, all counted (``rejects`` keeps the first ones)
    warnings: tuple[str, ...]  # things worth saying that refused nothing


#: Called after each batch with (bytes of the file read, its size if known, rows read,
#: rows rejected).
BatchProgress = Callable[[int, int | None, int, int], None]


def read_source(
    source: Source,
    data: InputData,
    *,
    name: str | None = None,
    max_decompressed_bytes: int | None = None,
    batch_bytes: int | None = None,
) -> ParsedFile:
    """Read and validate one CSV source whole: a path (``.gz`` or plain), bytes or a file.

    ``name`` is the file name used in messages (default: the path as given, or
    ``<bytes>``); ``max_decompressed_bytes`` limits the file's text (default: the
    setting ``STOREMON_MAX_DECOMPRESSED_BYTES``). Raises
    :class:`~storemon.errors.MissingColumnError` when the header lacks a required
    column and :class:`~storemon.errors.IngestError` when the file cannot be read as a
    CSV text file at all.
    """
    tables: list[pa.Table] = []
    read = stream_source(
        source,
        data,
        tables.append,
        name=name,
        max_decompressed_bytes=max_decompressed_bytes,
        batch_bytes=batch_bytes,
    )
    schema = SCHEMAS[source]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return ParsedFile(
        source, read.file, table, read.rejects, read.rows, read.rejected, read.warnings
    )


def stream_source(
    source: Source,
    data: InputData,
    on_rows: Callable[[pa.Table], None],
    *,
    name: str | None = None,
    max_decompressed_bytes: int | None = None,
    batch_bytes: int | None = None,
    progress: BatchProgress | None = None,
) -> FileRead:
    """Read and validate one CSV source batch by batch; ``on_rows`` gets each batch's
    valid rows (a table of ``schema.SCHEMAS[source]``, never empty), in file order."""
    if source not in _rules.COLUMNS:
        raise ValueError(f"unknown source {source!r}")
    file = file_name(data, name)
    limit = text_limit(max_decompressed_bytes)
    reader = _Reader(source, file, Input(data, file, max_text_bytes=limit))
    return reader.run(
        on_rows, _batches.BATCH_BYTES if batch_bytes is None else batch_bytes, progress
    )


def text_limit(value: int | None) -> int:
    """The limit on a file's text: ``value``, or the setting STOREMON_MAX_DECOMPRESSED_BYTES."""
    if value is not None:
        return value
    from storemon.config import get_settings  # the settings only when asked for

    return get_settings().max_decompressed_bytes


def file_name(data: InputData, name: str | None) -> str:
    """The name of a file in messages: ``name``, else the path as given, else ``<bytes>``."""
    if name is not None:
        return name
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    return "<bytes>"


@dataclass
class _Scientific:
    count: int = 0
    example: tuple[int, str] | None = None  # (line, id) of the first


@dataclass
class _Reader:
    """One read of one file; split into steps so each stays small."""

    source: Source
    file: str
    input: Input
    rows: int = 0
    loaded: int = 0
    rejected: int = 0
    kept: list[pa.Table] = field(default_factory=list)
    kept_rows: int = 0
    warnings: list[str] = field(default_factory=list)
    scientific: _Scientific = field(default_factory=_Scientific)
    raw_budget: int = field(default_factory=lambda: RAW_BUDGET_BYTES)  # raw kept whole, bytes

    def run(
        self, on_rows: Callable[[pa.Table], None], batch_bytes: int, progress: BatchProgress | None
    ) -> FileRead:
        batcher = Batcher(self.input.chunks(), target=batch_bytes)
        head = batcher.peek(_SNIFF_BYTES)
        refuse_binary(head.removeprefix(_BOM), self.file)
        if not head.strip() and len(head) < _SNIFF_BYTES:
            raise IngestError(f"{self.file}: is empty; expected a header line and rows")
        names, layout = self._header(batcher)
        with _InTurn(progress) as checks:
            while (item := batcher.next()) is not None:
                if isinstance(item, LongLine):
                    checks.then(partial(self._long_line, item), self._counts)
                else:
                    rows = split(item.data, item.first_line, item.final, layout, item.newlines)
                    batcher.done(item, rows.consumed_bytes, rows.consumed_lines)
                    checks.then(partial(self._take, item, rows, names, on_rows), self._counts)
        return self._result()

    def _counts(self) -> _Counts:
        """What the progress callback is told after a batch."""
        return self.input.bytes_read, self.input.bytes_total, self.rows, self.rejected

    # -- the header ------------------------------------------------------------------------
    def _header(self, batcher: Batcher) -> tuple[list[str], Layout]:
        """The names of the required columns as the header writes them, and its layout."""
        line = batcher.first_line()
        if line is None:
            raise IngestError(
                f"{self.file}: line 1 (the header) is longer than a row may be; "
                "is this a CSV file with line breaks?"
            )
        line = line.removeprefix(_BOM)
        expected = ",".join(column for column, _ in _rules.COLUMNS[self.source])
        if not line.strip():
            raise IngestError(
                f"{self.file}: line 1 is empty; it must be the header, e.g. '{expected}'"
            )
        if b"\x00" in line:
            raise IngestError(
                f"{self.file}: is not a text file (it contains NUL bytes); expected a UTF-8 CSV"
            )
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise IngestError(
                f"{self.file}: the header on line 1 is not UTF-8 text (save the file as UTF-8)"
            ) from None
        if text.count('"') % 2:
            raise IngestError(f"{self.file}: the header on line 1 has an unclosed quote")
        delimiter = _separator(text)
        header = [part.strip() for part in next(_pycsv.reader([text], delimiter=delimiter))]
        lowered = [part.lower() for part in header]
        wanted: list[int] = []
        for column, accepted in _rules.COLUMNS[self.source]:
            found = [i for i, part in enumerate(lowered) if part in accepted]
            if not found:
                aliases = tuple(alias for alias in accepted if alias != column.lower())
                raise MissingColumnError(self.file, column, header, aliases)
            wanted.append(found[0])
        if delimiter != ",":
            self.warnings.append(
                f"read as a {_SEPARATOR_NAMES[delimiter]}-separated file (the header has no commas)"
            )
        return [header[i] for i in wanted], Layout(len(header), tuple(wanted), delimiter)

    # -- rows ------------------------------------------------------------------------------
    def _take(
        self, batch: Batch, rows: Rows, names: list[str], on_rows: Callable[[pa.Table], None]
    ) -> None:
        """Check one batch's rows; hand on the valid ones, keep the rejects."""
        count = len(rows.line)
        self.rows += rows.count
        checked = _rules.check(self.source, rows.columns, names)
        problem_rows, reasons = _join_reasons(checked.problems)
        keep = np.ones(count, bool)
        keep[problem_rows] = False
        typed = checked.columns
        if not keep.all():
            mask = pa.array(keep)
            typed = {name: pc.filter(column, mask) for name, column in typed.items()}
        schema = SCHEMAS[self.source]
        good = pa.Table.from_arrays([typed[f.name] for f in schema], schema=schema)
        if good.num_rows:
            self.loaded += good.num_rows
            self._scientific(batch, good.column("store_id"), rows.line[keep])
            on_rows(good)
        if len(problem_rows) == 0 and len(rows.refused.line) == 0:
            return
        ids = checked.columns["store_id"].take(problem_rows)
        id_ok = ~np.isin(problem_rows, checked.bad_ids)
        start, end = rows.bounds(problem_rows)
        self._reject(
            batch.data,
            np.concatenate([rows.line[problem_rows], rows.refused.line]),
            pa.concat_arrays([reasons, rows.refused.reason]),
            pa.concat_arrays(
                [
                    _flat(pc.if_else(pa.array(id_ok), ids, pa.scalar(None, pa.string()))),
                    pa.nulls(len(rows.refused.line), pa.string()),
                ]
            ),
            np.concatenate([start, rows.refused.start]),
            np.concatenate([end, rows.refused.end]),
        )

    def _long_line(self, item: LongLine) -> None:
        self.rows += 1
        self._reject(
            item.head,
            np.array([item.line], np.int64),
            pa.array([too_long(item.size)], pa.string()),
            pa.nulls(1, pa.string()),
            np.zeros(1, np.int64),
            np.array([len(item.head)], np.int64),
            size=item.size,
        )

    def _reject(
        self,
        data: bytes,
        lines: NDArray[np.int64],
        reasons: pa.Array[Any],
        store_ids: pa.Array[Any],
        start: NDArray[np.int64],
        end: NDArray[np.int64],
        size: int | None = None,
    ) -> None:
        """Count rejects; keep the first ones (in line order) with their raw text."""
        self.rejected += len(lines)
        room = min(len(lines), MAX_REJECTS_KEPT - self.kept_rows)
        if room <= 0:
            return
        order = np.argsort(lines, kind="stable")[:room]
        raws = []
        for i in order:
            first, last = int(start[i]), int(end[i])
            whole = size is None and last - first <= min(RAW_WHOLE_BYTES, self.raw_budget)
            if whole:
                self.raw_budget -= last - first
            raws.append(excerpt(data, first, last, size, whole=whole))
        self.kept.append(
            pa.Table.from_arrays(
                [
                    pa.array([self.source] * room, pa.string()),
                    pa.array([self.file] * room, pa.string()),
                    pa.array(lines[order], pa.int64()),
                    reasons.take(order),
                    pa.array(raws, pa.string()),
                    store_ids.take(order),
                ],
                schema=REJECTS,
            )
        )
        self.kept_rows += room

    def _scientific(
        self, batch: Batch, store_ids: pa.ChunkedArray[Any], lines: NDArray[np.int64]
    ) -> None:
        """Count valid rows whose id looks like ``8.42E+18`` (cheap test on the text first)."""
        if b"+" not in batch.data:
            return
        found = _rules.scientific_ids(store_ids)
        if len(found):
            self.scientific.count += len(found)
            if self.scientific.example is None:
                first = int(found[0])
                self.scientific.example = (int(lines[first]), str(store_ids[first].as_py()))

    def _result(self) -> FileRead:
        warnings = list(self.input.warnings) + self.warnings
        if self.scientific.example is not None:
            line, example = self.scientific.example
            count = self.scientific.count
            noun = "store id looks" if count == 1 else f"{count:,} store ids look"
            warnings.append(
                f"{noun} like a number in scientific notation ('{example[:40]}' on line "
                f"{line}): a spreadsheet may have rounded the ids, merging different stores; "
                "export the ids as text"
            )
        if self.rejected > self.kept_rows:
            warnings.append(
                f"only the first {self.kept_rows:,} of {self.rejected:,} rejected rows are kept"
            )
        if self.rows == 0:
            warnings.append("the file has a header but no data rows")
        rejects = pa.concat_tables(self.kept) if self.kept else REJECTS.empty_table()
        return FileRead(
            source=self.source,
            file=self.file,
            rows=self.rows,
            loaded=self.loaded,
            rejected=self.rejected,
            rejects=rejects,
            warnings=tuple(warnings),
            sha256=self.input.sha256,
            bytes_read=self.input.bytes_read,
            bytes_total=self.input.bytes_total,
        )


#: (bytes of the file read, its size if known, rows read, rows rejected) after a batch.
_Counts = tuple[int, int | None, int, int]


class _InTurn:
    """The checks of the batches, one at a time and in file order, on a helper thread, at
    most two batches behind the caller: the next batch is split while the last is checked
    (numpy and pyarrow release the GIL for most of both). ``progress`` is told each
    batch's counts on the caller's thread, in order, once its check is done.

    A check's error is raised by the next :meth:`then` or on leaving the block, and no
    check after it runs. When the caller's own work fails (a broken stream, a file too
    large), the checks of the batches before are waited for and the first of their
    errors, which comes earlier in the file, is raised instead (an interrupt is not held
    up).
    """

    def __init__(self, progress: BatchProgress | None) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="storemon-ingest-check")
        self._pending: list[Future[_Counts | None]] = []
        self._progress = progress
        self._failed = False  # a check raised: the ones after it do not run

    def __enter__(self) -> _InTurn:
        return self

    def then(self, check: Callable[[], None], counts: Callable[[], _Counts]) -> None:
        """Run ``check``, then take ``counts``, on the helper thread after the checks
        given before; wait while two are queued."""
        while len(self._pending) > 1:
            self._collect()
        self._pending.append(self._pool.submit(self._run, check, counts))

    def _run(self, check: Callable[[], None], counts: Callable[[], _Counts]) -> _Counts | None:
        if self._failed:
            return None
        try:
            check()
        except BaseException:
            self._failed = True
            raise
        return counts()

    def _collect(self) -> None:
        """The oldest check's outcome: its error raised, or its counts told."""
        told = self._pending.pop(0).result()
        if told is not None and self._progress is not None:
            self._progress(*told)

    def __exit__(self, kind: type[BaseException] | None, error: object, traceback: object) -> None:
        try:
            if kind is None or issubclass(kind, Exception):
                while self._pending:  # an error of an earlier check wins over the caller's
                    self._collect()
        finally:
            self._failed = True  # whatever is still queued returns at once
            self._pool.shutdown(wait=True)


def _separator(header: str) -> str:
    """The header's field separator: a comma, unless it has none and has ; or tabs."""
    if "," in header:
        return ","
    counts = {separator: header.count(separator) for separator in _SEPARATOR_NAMES}
    best = max(counts, key=lambda separator: counts[separator])
    return best if counts[best] else ","


def _flat(column: pa.Array[Any] | pa.ChunkedArray[Any]) -> pa.Array[Any]:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


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
