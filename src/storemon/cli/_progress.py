"""Progress of a long ingest on stderr: a bar on a terminal, plain lines when piped.

:class:`IngestProgress` is the ``progress`` callback of the ingest service: it is
called with an event after each batch of a file and once when the file is done
(``storemon.ingest.progress.ProgressEvent``; here only its shape counts, see
:class:`ProgressEventLike`). On a terminal it redraws one line in place and
erases it when the file is done (the command's summary follows). To a pipe or
file it writes nothing for a file done within ``every_seconds``; a longer one
gets a line every ``every_seconds`` and one when it is done, so the log of a cron
job shows how far a long ingest got. ``--quiet`` installs none.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, TextIO

from storemon.display import printable

__all__ = ["FileEvent", "IngestProgress", "ProgressEventLike"]

_BAR_CELLS: Final = 24
_MB: Final = 1_000_000


class ProgressEventLike(Protocol):
    """What a progress event carries (the fields of the ingest service's ProgressEvent)."""

    @property
    def source(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def bytes_read(self) -> int: ...
    @property
    def bytes_total(self) -> int | None: ...
    @property
    def rows_read(self) -> int: ...
    @property
    def rows_rejected(self) -> int: ...
    @property
    def done(self) -> bool: ...


@dataclass(frozen=True)
class FileEvent:
    """A progress event with the fields of the ingest service's ProgressEvent, for a caller
    that reads a file whole and reports before and after it."""

    source: str
    file: str
    bytes_read: int
    bytes_total: int | None
    rows_read: int
    rows_rejected: int
    done: bool


class IngestProgress:
    """Draws ingest progress events on ``stream`` (stderr by default)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        terminal: bool | None = None,
        every_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._terminal = self._stream.isatty() if terminal is None else terminal
        self._every = every_seconds
        self._clock = clock
        self._started_at: float | None = None  # the current file's first event
        self._last_line_at: float | None = None
        self._drawn = False  # a terminal line is open (no newline yet)

    def __call__(self, event: ProgressEventLike) -> None:
        text = self._describe(event)
        if self._terminal:  # one line redrawn in place, erased when the file is done
            self._stream.write("\r\x1b[K" + ("" if event.done else text))
            self._drawn = not event.done
            self._stream.flush()
            return
        now = self._clock()
        if self._started_at is None:
            self._started_at = now
        if now - self._started_at >= self._every and (
            event.done or self._last_line_at is None or now - self._last_line_at >= self._every
        ):
            self._stream.write(text + "\n")
            self._stream.flush()
            self._last_line_at = now
        if event.done:  # the next event starts another file
            self._started_at = self._last_line_at = None

    def close(self) -> None:
        """End an open terminal line (an ingest that failed midway)."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def _describe(self, event: ProgressEventLike) -> str:
        loaded = event.rows_read - event.rows_rejected
        counts = (
            f"{event.rows_read:,} rows read, {loaded:,} valid, {event.rows_rejected:,} rejected"
        )
        name = f"{event.source}: {printable(event.file)}"
        if event.done:
            return f"{name}: {counts}, done"
        total = event.bytes_total
        if event.bytes_read == 0 and event.rows_read == 0:
            size = "" if total is None else f" ({total / _MB:,.1f} MB)"
            return f"{name}: reading{size} ..."
        if total:
            share = min(event.bytes_read / total, 1.0)
            size = f"{event.bytes_read / _MB:,.1f}/{total / _MB:,.1f} MB"
            if self._terminal:
                filled = round(share * _BAR_CELLS)
                bar = "#" * filled + "-" * (_BAR_CELLS - filled)
                return f"{name}: [{bar}] {share:4.0%} {size}, {counts}"
            return f"{name}: {share:.0%} of {size}, {counts}"
        return f"{name}: {event.bytes_read / _MB:,.1f} MB, {counts}"
