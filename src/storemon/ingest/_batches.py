"""Cut a stream of text chunks into batches of whole lines, numbered.

:class:`Batcher` holds at most about one batch of text (``target`` bytes, plus one
chunk and one row). It yields :class:`Batch` objects that end at a line break (the
last one may end the file instead), and :class:`LongLine` for a line longer than
:data:`~._records.MAX_ROW_BYTES`, which is never held whole: its first bytes are kept
for the reject, the rest is counted and dropped. The reader says after each batch
how much of it it used (:meth:`Batcher.done`); the rest (an open quoted value at the
end) comes again at the start of the next batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np

from storemon.ingest._lines import RAW_CHARS
from storemon.ingest._records import MAX_ROW_BYTES

__all__ = ["BATCH_BYTES", "Batch", "Batcher", "LongLine"]

#: Text per batch, in bytes: peak memory follows it.
BATCH_BYTES: Final = 8 << 20
_HEAD_BYTES: Final = 4 * RAW_CHARS  # kept of a long line, for its reject


@dataclass(frozen=True)
class Batch:
    """Whole lines of text, the first of them line ``first_line`` of the file."""

    data: bytes
    first_line: int
    final: bool  # no line after the batch can continue its last record (end of file, long line)
    newlines: int | None = None  # how many b"\n" ``data`` holds, when counted already


@dataclass(frozen=True)
class LongLine:
    """A line too long to be a row: its number, length (bytes, no terminator), first bytes."""

    line: int
    size: int
    head: bytes


class Batcher:
    """Batches of whole lines from ``chunks``; line 1 is read apart with :meth:`first_line`."""

    def __init__(self, chunks: Iterator[bytes], *, target: int = BATCH_BYTES) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._eof = False
        self._stalled = False  # the last batch was not used whole: read more before cutting
        self._carried = 0  # bytes of it that came back (they start the buffer)
        self.target = max(1, target)
        self.next_line = 1

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at the end of the file), not consumed."""
        self._fill(size)
        return bytes(self._buffer[:size])

    def first_line(self) -> bytes | None:
        """Line 1 without its terminator; None when it is longer than a row may be."""
        while True:
            cut = _first_end(self._buffer, self._eof)
            if cut is not None or self._eof or len(self._buffer) > MAX_ROW_BYTES:
                break
            self._fill(len(self._buffer) + 1)
        if cut is None:
            if not self._eof or len(self._buffer) > MAX_ROW_BYTES:
                return None
            cut = len(self._buffer)
        line = bytes(self._buffer[:cut]).rstrip(b"\r\n")
        del self._buffer[:cut]
        self.next_line = 2
        return line

    def next(self) -> Batch | LongLine | None:
        """The next batch, or None at the end of the file."""
        self._fill(len(self._buffer) + 1 if self._stalled else self.target)
        buffer = self._buffer
        if not self._stalled:
            self._skip_empty_lines()
        while True:
            if not buffer:
                return None
            whole = _last_end(buffer, len(buffer), self._eof)  # after the last whole line
            if len(buffer) - whole > MAX_ROW_BYTES:  # then a line too long to hold
                if not whole:
                    return self._long_line()
                return self._batch(whole, final=True)  # no quoted value runs past that line
            if self._eof:
                return self._batch(len(buffer), final=True)
            if whole:
                break
            self._fill(len(buffer) + 1)
        cut = whole if self._stalled else (_last_end(buffer, self.target, False) or whole)
        if not self._stalled:
            cut = _before_empty_run(buffer, cut)
        return self._batch(cut, final=False)

    def _batch(self, cut: int, *, final: bool) -> Batch:
        capped, feeds = _capped(self._buffer, cut)
        newlines: int | None = feeds
        if self._stalled and capped <= self._carried:  # a line more than last time, at least
            capped = _first_end(self._buffer[self._carried :], self._eof) or 0
            capped = min(cut, self._carried + capped) if capped else cut
            newlines = None
        with memoryview(self._buffer) as view:  # one copy (a slice of the bytearray is two)
            data = bytes(view[:capped])
        return Batch(data, self.next_line, final and capped == cut, newlines)

    def _skip_empty_lines(self) -> None:
        """Count and drop the empty lines at the start of the buffer, without a batch."""
        buffer = self._buffer
        while buffer.startswith((b"\n", b"\r")):
            run = _breaks_at_start(buffer)
            if run == len(buffer) and not self._eof and buffer.endswith(b"\r"):
                run -= 1  # its \n may follow
            if run == 0:  # a lone \r, and more may come
                self._fill(len(buffer) + 1)
                if not (self._eof and len(buffer) == 1):
                    continue
                run = 1
            if buffer.find(b"\r", 0, run) == -1:
                self.next_line += run  # only \n: a line each
            else:
                self.next_line += _terminators(buffer, 0, run) - buffer.count(b"\r\n", 0, run)
            del buffer[:run]
            if not buffer:
                self._fill(1)
                if not buffer:
                    return

    def done(self, batch: Batch, used_bytes: int, used_lines: int) -> None:
        """``batch`` was read up to ``used_bytes`` (``used_lines`` lines); keep the rest."""
        del self._buffer[:used_bytes]
        self.next_line = batch.first_line + used_lines
        self._carried = len(batch.data) - used_bytes
        self._stalled = self._carried > 0

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size and not self._eof:
            piece = next(self._chunks, None)
            if piece is None:
                self._eof = True
            else:
                self._buffer += piece

    def _long_line(self) -> LongLine:
        """Drop the over-long line at the start of the buffer, counting it."""
        line, head = self.next_line, bytes(self._buffer[:_HEAD_BYTES])
        size = 0
        while True:
            cut = _first_end(self._buffer, self._eof)
            if cut is not None:
                size += len(bytes(self._buffer[:cut]).rstrip(b"\r\n"))
                del self._buffer[:cut]
                break
            if self._eof:
                size += len(self._buffer)
                self._buffer.clear()
                break
            keep = 1 if self._buffer.endswith(b"\r") else 0  # its \n may follow
            size += len(self._buffer) - keep
            del self._buffer[: len(self._buffer) - keep]
            self._fill(len(self._buffer) + 1)
        self.next_line = line + 1
        self._stalled = False
        return LongLine(line, size, head)


#: Most line-break bytes in one batch (so at most this many lines): the slow path's
#: memory follows the lines of a batch, and blank lines are cheap to have many of.
MAX_BATCH_TERMINATORS: Final = 1 << 19
# A run this long of empty lines ends a batch (the next one skips it without parsing).
_EMPTY_RUNS: Final = (b"\n" * 16, b"\r\n" * 16)


def _breaks_at_start(buffer: bytearray) -> int:
    """How many bytes at the start of ``buffer`` are line breaks (vectorized)."""
    view = np.frombuffer(buffer, np.uint8)
    other = view != ord("\n")
    if buffer.find(b"\r") != -1:
        other &= view != ord("\r")
    first = int(np.argmax(other))
    run = first if other[first] else len(buffer)
    del view, other  # release the export before the buffer is resized
    return run


def _terminators(buffer: bytearray, start: int, end: int) -> int:
    return buffer.count(b"\n", start, end) + buffer.count(b"\r", start, end)


def _breaks(buffer: bytearray, end: int) -> tuple[int, int]:
    """How many ``\n``, and how many ``\n`` and ``\r``, ``buffer[:end]`` holds.

    Counted with numpy: 3x the pace of ``bytearray.count`` here, and without the GIL (the
    batch before is checked on another thread meanwhile)."""
    chars = np.frombuffer(buffer, np.uint8, count=end)
    feeds = int(np.count_nonzero(chars == ord("\n")))
    returns = 0
    if buffer.find(b"\r", 0, end) != -1:
        returns = int(np.count_nonzero(chars == ord("\r")))
    del chars  # release the export before the buffer is resized
    return feeds, feeds + returns


def _capped(buffer: bytearray, cut: int) -> tuple[int, int]:
    """``cut``, or an earlier line end so that at most MAX_BATCH_TERMINATORS breaks precede;
    and how many ``\n`` precede it."""
    feeds, total = _breaks(buffer, cut)
    while total > MAX_BATCH_TERMINATORS:
        shorter = _last_end(buffer, max(1, cut * MAX_BATCH_TERMINATORS // total), False)
        if not shorter:
            break
        cut = shorter
        feeds, total = _breaks(buffer, cut)
    return cut, feeds


def _before_empty_run(buffer: bytearray, cut: int) -> int:
    """``cut``, or the end of the line that a long run of empty lines follows."""
    for run in _EMPTY_RUNS:
        found = buffer.find(run, 0, cut)
        if found > 0:
            cut = min(cut, found + (2 if run[0] == ord("\r") else 1))
    return cut


def _first_end(buffer: bytearray, eof: bool) -> int | None:
    """Where the first line of ``buffer`` ends (after its terminator), if known yet."""
    feed, ret = buffer.find(b"\n"), buffer.find(b"\r")
    if ret != -1 and (feed == -1 or ret < feed):
        if ret + 1 < len(buffer):
            return ret + 2 if buffer[ret + 1] == ord("\n") else ret + 1
        return ret + 1 if eof else None  # a \r last: a \n may follow
    return None if feed == -1 else feed + 1


def _last_end(buffer: bytearray, high: int, eof: bool) -> int:
    """Where the last line that ends before ``high`` ends (after its terminator); 0 if none.

    A ``\\r`` that is the buffer's last byte does not end a line yet (its ``\\n`` may
    follow), unless the file ends there.
    """
    end = buffer.rfind(b"\n", 0, high) + 1
    ret = buffer.rfind(b"\r", 0, high)
    while ret >= end:
        if ret + 1 < len(buffer):
            return max(end, ret + 2 if buffer[ret + 1] == ord("\n") else ret + 1)
        if eof:
            return ret + 1
        ret = buffer.rfind(b"\r", 0, ret)
    return end
