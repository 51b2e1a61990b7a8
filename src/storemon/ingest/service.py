"""Ingest CSV files into a store: read and validate every file, then write once.

Every given file is parsed with :func:`storemon.ingest.csv.read_source` before
the database is touched, so a refused file (bad header, not text) leaves the
database unchanged; then the valid rows and the rejected rows of all files go
to :meth:`Store.apply_ingest` as one transaction.

Counts in the summary: ``rows`` data rows read; ``loaded`` valid rows taken
from the file (a file that repeats a poll counts both rows: the store keeps one,
the last); ``rejected`` rows refused, with line numbers stored as rejects.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from storemon.errors import InputError
from storemon.ingest.csv import ParsedFile, read_source
from storemon.schema import REJECTS, SOURCES, Source
from storemon.store.base import IngestBatch, Store

__all__ = [
    "FIRST_REJECTS",
    "IngestSummary",
    "ReadFiles",
    "SourceSummary",
    "ingest",
    "read_files",
    "store_files",
]

#: How many rejects of each file a summary shows (all are stored).
FIRST_REJECTS = 5


@dataclass(frozen=True)
class SourceSummary:
    """What one file gave: rows read, loaded and rejected, and its first rejects."""

    source: Source
    file: str
    rows: int
    loaded: int
    rejected: int
    first_rejects: list[tuple[int, str]]  # (line, reason), the first FIRST_REJECTS

    def to_json(self) -> dict[str, object]:
        """``{"file", "rows", "loaded", "rejected", "rejects": [{"line", "reason"}]}``."""
        return {
            "file": self.file,
            "rows": self.rows,
            "loaded": self.loaded,
            "rejected": self.rejected,
            "rejects": [{"line": line, "reason": reason} for line, reason in self.first_rejects],
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
    files: Mapping[Source, str | os.PathLike[str] | bytes],
    *,
    names: Mapping[Source, str] | None = None,
) -> IngestSummary:
    """Read, validate and store the given files in one transaction.

    ``files`` maps a source to a path (plain or ``.gz``) or to the file's bytes;
    ``names`` optionally gives the file name used in messages and in the rejects.
    Raises :class:`~storemon.errors.IngestError` (nothing stored) when a file is
    refused as a whole.
    """
    return store_files(store, read_files(files, names=names))


@dataclass(frozen=True)
class ReadFiles:
    """Every given file read and validated, not stored yet (see :func:`read_files`)."""

    parsed: dict[Source, ParsedFile]
    started: float  # time.perf_counter() when reading began


def read_files(
    files: Mapping[Source, str | os.PathLike[str] | bytes],
    *,
    names: Mapping[Source, str] | None = None,
) -> ReadFiles:
    """The first half of :func:`ingest`: read every file, touching no database.

    Lets a caller refuse a bad file before it even opens the database.
    """
    started = time.perf_counter()
    unknown = sorted(set(files) - set(SOURCES))
    if unknown:
        raise InputError(f"unknown source {unknown[0]!r}: use one of {', '.join(SOURCES)}")
    if not files:
        raise InputError(f"no file given: give at least one of {', '.join(SOURCES)}")
    given = names or {}
    parsed: dict[Source, ParsedFile] = {}
    for source in SOURCES:  # every file is read before anything is written
        if source in files:
            parsed[source] = read_source(source, files[source], name=given.get(source))
    return ReadFiles(parsed, started)


def store_files(store: Store, read: ReadFiles) -> IngestSummary:
    """The second half of :func:`ingest`: one :meth:`Store.apply_ingest`, then the summary."""
    parsed = read.parsed
    rejects = [part.rejects for part in parsed.values() if part.rejects.num_rows]
    batch = IngestBatch(
        polls=_table(parsed, "status"),
        hours=_table(parsed, "hours"),
        timezones=_table(parsed, "timezones"),
        rejects=pa.concat_tables(rejects).cast(REJECTS) if rejects else None,
        files={source: part.file for source, part in parsed.items()},
    )
    store.apply_ingest(batch)
    return IngestSummary(
        sources={source: _summary(part) for source, part in parsed.items()},
        seconds=time.perf_counter() - read.started,
    )


def _table(parsed: Mapping[Source, ParsedFile], source: Source) -> pa.Table | None:
    part = parsed.get(source)
    return None if part is None else part.table


def _summary(part: ParsedFile) -> SourceSummary:
    first = part.rejects.slice(0, FIRST_REJECTS)
    lines: list[int] = first.column("line").to_pylist()  # type: ignore[assignment]
    reasons: list[str] = first.column("reason").to_pylist()  # type: ignore[assignment]
    return SourceSummary(
        source=part.source,
        file=part.file,
        rows=part.rows,
        loaded=part.table.num_rows,
        rejected=part.rejects.num_rows,
        first_rejects=list(zip(lines, reasons, strict=True)),
    )
