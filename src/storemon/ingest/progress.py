"""Progress of an ingest, reported to a callback as each file is read and stored.

:func:`storemon.ingest.service.ingest` (and :func:`~storemon.ingest.service.read_files`)
take ``progress: Callable[[ProgressEvent], None]``. It is called when a file begins
(nothing read yet), after each batch of it is read and validated (``done`` false), and
once per file when the ingest has been stored (``done`` true). The callback runs on the
ingesting thread: keep it quick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from storemon.schema import Source

__all__ = ["Progress", "ProgressEvent"]


@dataclass(frozen=True)
class ProgressEvent:
    """How far the ingest of one file has come."""

    source: Source
    file: str  # the name used in messages
    bytes_read: int  # bytes of the file as given (compressed, for a gzip file)
    bytes_total: int | None  # the file's size, when known
    rows_read: int  # data rows read so far (valid + rejected; blank lines are not rows)
    rows_rejected: int  # of which rejected
    done: bool  # true once, when the file's rows are stored


Progress: TypeAlias = Callable[[ProgressEvent], None]
