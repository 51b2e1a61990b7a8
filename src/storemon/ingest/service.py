"""Ingest CSV files into a store: read and validate every file, then write once.

Every given file is read to its end with :func:`storemon.ingest.csv.stream_source`
before the database is touched, so a refused file (bad header, not text, too big,
every row rejected) leaves the database unchanged; its valid rows wait in a
:class:`~._spill.Spill` (memory up to a bound, then a temporary file), so memory
follows the batch, not the file. Then the valid rows and the rejected rows of all
files go to :meth:`Store.apply_ingest` as one transaction. The CLI, the API and the
inbox all ingest through here.

Counts in the summary: ``rows`` data rows read; ``loaded`` valid rows taken
from the file (a file that repeats a poll counts both rows: the store keeps one,
the last); ``rejected`` rows refused, with line numbers stored as rejects;
``warnings`` what is worth saying although it refused nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Final

import pyarrow as pa

from storemon.errors import IngestError, InputError, NothingLoaded
from storemon.ingest._input import InputData, input_size
from storemon.ingest._spill import Spill
from storemon.ingest.csv import FileRead, file_name, stream_source, text_limit
from storemon.ingest.progress import Progress, ProgressEvent
from storemon.schema import REJECTS, SCHEMAS, SOURCES, Source
from storemon.store.base import IngestBatch, Store

__all__ = [
    "FIRST_REJECTS",
    "IngestSummary",
    "ReadFile",
    "ReadFiles",
    "SourceSummary",
    "ingest",
    "read_files",
    "store_files",
]

log = logging.getLogger("storemon.ingest")

#: How many rejects of each file a summary shows (all are stored).
FIRST_REJECTS: Final = 5


@dataclass(frozen=True)
class SourceSummary:
    """What one file gave: rows read, loaded and rejected, its first rejects, warnings."""

    source: Source
    file: str
    rows: int
    loaded: int
    rejected: int
    first_rejects: list[tuple[int, str]]  # (line, reason), the first FIRST_REJECTS
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """``{"file", "rows", "loaded", "rejected", "rejects": [{"line", "reason"}],
        "warnings": [...]}``."""
        return {
            "file": self.file,
            "rows": self.rows,
            "loaded": self.loaded,
            "rejected": self.rejected,
            "rejects": [{"line": line, "reason": reason} for line, reason in self.first_rejects],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class IngestSummary:
    """The outcome of one ingest: a summary per source given, and the time it took."""

    sources: dict[Source, SourceSummary]
    seconds: float

    def to_json(self) -> dict[str, object]:
        """One object keyed by source: ``{"status": {"file", "rows", ...}, ...}``."""
        return {source: part.to_json() for source, part in self.sources.items()}


def ingest(
    store: Store,
    files: Mapping[Source, InputData],
    *,
    names: Mapping[Source, str] | None = None,
    progress: Progress | None = None,
    max_decompressed_bytes: int | None = None,
) -> IngestSummary:
    """Read, validate and store the given files in one transaction.

    ``files`` maps a source to a path (plain or ``.gz``), the file's bytes or an open
    binary file; ``names`` optionally gives the file name used in messages and in the
    rejects. ``progress`` is called after each batch and once per file at the end
    (:mod:`storemon.ingest.progress`). ``max_decompressed_bytes`` limits each file's
    text (default: the setting ``STOREMON_MAX_DECOMPRESSED_BYTES``). Raises
    :class:`~storemon.errors.IngestError` (nothing stored) when a file is refused as a
    whole, including :class:`~storemon.errors.NothingLoaded` when every row of a file
    was rejected.
    """
    read = read_files(
        files, names=names, progress=progress, max_decompressed_bytes=max_decompressed_bytes
    )
    return store_files(store, read)


@dataclass(frozen=True)
class ReadFile(FileRead):
    """One file read and validated (:class:`~storemon.ingest.csv.FileRead`), with its
    valid rows waiting in a :class:`~._spill.Spill` until they are stored."""

    valid: Spill = field(compare=False)

    def tables(self) -> Iterator[pa.Table]:
        """The valid rows in file order, a batch at a time."""
        return self.valid.tables()


@dataclass
class ReadFiles:
    """Every given file read and validated, not stored yet (see :func:`read_files`).

    Holds the valid rows (possibly in temporary files) until :func:`store_files`, or
    :meth:`close`, releases them.
    """

    parsed: dict[Source, ReadFile]
    started: float  # time.perf_counter() when reading began
    progress: Progress | None = None

    def close(self) -> None:
        """Release the rows (and their temporary files). Idempotent."""
        for part in self.parsed.values():
            part.valid.close()

    def __enter__(self) -> ReadFiles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_files(
    files: Mapping[Source, InputData],
    *,
    names: Mapping[Source, str] | None = None,
    progress: Progress | None = None,
    max_decompressed_bytes: int | None = None,
    refuse_empty: bool = True,
    memory_bytes: int | None = None,
) -> ReadFiles:
    """The first half of :func:`ingest`: read every file, touching no database.

    Lets a caller refuse a bad file before it even opens the database. With
    ``refuse_empty`` False a file whose every row was rejected is read like any other
    (a report from files goes on with the settings' defaults); ``memory_bytes`` is how
    much of each file's valid rows (Arrow bytes) is held in memory before they go to a
    temporary file (default :data:`~._spill.MEMORY_BYTES`).
    """
    started = time.perf_counter()
    unknown = sorted(set(files) - set(SOURCES))
    if unknown:
        raise InputError(f"unknown source {unknown[0]!r}: use one of {', '.join(SOURCES)}")
    if not files:
        raise InputError(f"no file given: give at least one of {', '.join(SOURCES)}")
    limit = text_limit(max_decompressed_bytes)
    given = names or {}
    read = ReadFiles({}, started, progress)
    try:
        for source in SOURCES:  # every file is read before anything is written
            if source in files:
                read.parsed[source] = _read_one(
                    source,
                    files[source],
                    given.get(source),
                    limit,
                    progress,
                    refuse_empty=refuse_empty,
                    memory_bytes=memory_bytes,
                )
    except BaseException:
        read.close()
        raise
    return read


def _read_one(
    source: Source,
    data: InputData,
    name: str | None,
    limit: int,
    progress: Progress | None,
    *,
    refuse_empty: bool,
    memory_bytes: int | None,
) -> ReadFile:
    file = file_name(data, name)
    spill = Spill(SCHEMAS[source], memory_bytes=memory_bytes)

    def report(bytes_read: int, bytes_total: int | None, rows: int, rejected: int) -> None:
        if progress is not None:
            progress(ProgressEvent(source, file, bytes_read, bytes_total, rows, rejected, False))

    report(0, input_size(data), 0, 0)  # the file begins

    try:
        part = stream_source(
            source, data, spill.add, name=file, max_decompressed_bytes=limit, progress=report
        )
        if refuse_empty and part.rows and not part.loaded:
            raise NothingLoaded(part.file, part.rejected, _first(part.rejects))
    except pa.ArrowException as error:  # a reader bug: say so, never a traceback
        spill.close()
        log.exception("reading %s failed in pyarrow", file)
        raise IngestError(
            f"{file}: cannot be read: the CSV reader failed ({type(error).__name__}: "
            f"{str(error)[:200]}); please report this"
        ) from error
    except BaseException:
        spill.close()
        raise
    return ReadFile(**{f.name: getattr(part, f.name) for f in fields(part)}, valid=spill)


def store_files(store: Store, read: ReadFiles) -> IngestSummary:
    """The second half of :func:`ingest`: one :meth:`Store.apply_ingest`, then the summary."""
    parsed = read.parsed
    try:
        rejects = [part.rejects for part in parsed.values() if part.rejects.num_rows]
        polls = read.parsed.get("status")
        batch = IngestBatch(
            polls=None if polls is None else polls.tables(),  # streamed, a batch at a time
            hours=_table(read, "hours"),
            timezones=_table(read, "timezones"),
            rejects=pa.concat_tables(rejects).cast(REJECTS) if rejects else None,
            files={source: part.file for source, part in parsed.items()},
            file_hashes={source: part.sha256 for source, part in parsed.items()},
        )
        store.apply_ingest(batch)
    finally:
        read.close()
    if read.progress is not None:
        for part in parsed.values():
            read.progress(
                ProgressEvent(
                    part.source,
                    part.file,
                    part.bytes_read,
                    part.bytes_total,
                    part.rows,
                    part.rejected,
                    True,
                )
            )
    return IngestSummary(
        sources={source: _summary(part) for source, part in parsed.items()},
        seconds=time.perf_counter() - read.started,
    )


def _table(read: ReadFiles, source: Source) -> pa.Table | None:
    part = read.parsed.get(source)
    return None if part is None else part.valid.table()


def _first(rejects: pa.Table) -> list[tuple[int, str]]:
    first = rejects.slice(0, FIRST_REJECTS)
    lines: list[int] = first.column("line").to_pylist()  # type: ignore[assignment]
    reasons: list[str] = first.column("reason").to_pylist()  # type: ignore[assignment]
    return list(zip(lines, reasons, strict=True))


def _summary(part: FileRead) -> SourceSummary:
    return SourceSummary(
        source=part.source,
        file=part.file,
        rows=part.rows,
        loaded=part.loaded,
        rejected=part.rejected,
        first_rejects=_first(part.rejects),
        warnings=list(part.warnings),
    )
