"""Physical lines of one batch of text: where each starts and ends, and its text.

Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (the terminators pyarrow's CSV
parser knows). Bounds are int64 positions in the batch, computed with numpy in a
few passes over the bytes; the slow path of the reader and the raw text of
rejected rows use them, the fast path never builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["RAW_BUDGET_BYTES", "RAW_CHARS", "RAW_WHOLE_BYTES", "Lines", "excerpt"]

#: Raw text kept whole for a file's rejected rows, in bytes, each at most RAW_WHOLE_BYTES;
#: a longer one, or any once the budget is spent, is cut at RAW_CHARS characters.
RAW_BUDGET_BYTES: Final = 16 << 20
RAW_WHOLE_BYTES: Final = 64 << 10
#: Characters kept of a cut raw text (it then ends with "... (N bytes)").
RAW_CHARS: Final = 1000

Ints = NDArray[np.int64]


@dataclass(frozen=True)
class Lines:
    """Line ``i`` (0-based in the batch) is ``data[start[i]:end[i]]`` plus its terminator
    up to ``stop[i]``."""

    start: Ints
    end: Ints  # end of the content (before the terminator)
    stop: Ints  # end of the line, terminator included

    @classmethod
    def of(cls, data: bytes) -> Lines:
        """The lines of ``data``; a last line without a terminator counts."""
        chars = np.frombuffer(data, np.uint8)
        size = len(chars)
        ends = np.flatnonzero(chars == ord("\n"))
        width = np.ones(len(ends), np.int64)
        if data.find(b"\r") != -1:
            returns = np.flatnonzero(chars == ord("\r"))
            after = np.minimum(returns + 1, size - 1)
            paired = (returns + 1 < size) & (chars[after] == ord("\n"))
            width[np.searchsorted(ends, returns[paired] + 1)] = 2
            lone = returns[~paired]
            ends = np.concatenate([ends, lone])
            width = np.concatenate([width, np.ones(len(lone), np.int64)])
            order = np.argsort(ends, kind="stable")
            ends, width = ends[order], width[order]
        stop = ends.astype(np.int64) + 1
        end = stop - width
        if size and (len(stop) == 0 or stop[-1] != size):  # a last line without terminator
            stop = np.append(stop, size)
            end = np.append(end, size)
        start = np.concatenate([[0], stop[:-1]]).astype(np.int64)
        return cls(start, end, stop)

    @property
    def count(self) -> int:
        """The number of lines."""
        return len(self.start)


def excerpt(
    data: bytes, start: int, end: int, size: int | None = None, *, whole: bool = False
) -> str:
    """``data[start:end]`` as text for a reject: bad bytes and NULs become U+FFFD; unless
    ``whole``, at most :data:`RAW_CHARS` characters (a longer text says how long it was:
    ``size`` bytes, by default ``end - start``)."""
    total = end - start if size is None else size
    cut = end if whole else min(end, start + 4 * RAW_CHARS)
    text = data[start:cut].decode("utf-8", "replace").replace("\x00", "\ufffd")
    if not whole and (total > cut - start or len(text) > RAW_CHARS):
        return f"{text[:RAW_CHARS]}... ({total:,} bytes)"
    return text
