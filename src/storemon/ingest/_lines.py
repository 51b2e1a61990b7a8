"""Physical lines of a text buffer: where each starts, its text, bad bytes in it.

Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (the terminators pyarrow's CSV
parser knows), and are numbered from 1. Built only when a reader needs the raw
text of a rejected row, so the fast path never pays for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

_REPLACEMENT = np.frombuffer("\ufffd".encode(), np.uint8)


class LineIndex:
    """Line boundaries of ``text`` (vectorized; one pass over the bytes)."""

    def __init__(self, text: bytes) -> None:
        self._text = text
        chars = np.frombuffer(text, np.uint8)
        size = len(chars)
        feeds = np.flatnonzero(chars == ord("\n"))
        returns = np.flatnonzero(chars == ord("\r"))
        if len(returns):
            after = np.minimum(returns + 1, size - 1)
            lone = returns[(returns + 1 >= size) | (chars[after] != ord("\n"))]
            feeds = np.sort(np.concatenate([feeds, lone]))
        bounds = np.concatenate([[0], feeds + 1]).astype(np.int64)
        if bounds[-1] != size:
            bounds = np.append(bounds, size)
        #: bounds[i] .. bounds[i + 1] is line i + 1, terminator included.
        self.bounds: NDArray[np.int64] = bounds
        self._lines = pa.LargeStringArray.from_buffers(
            len(bounds) - 1, pa.py_buffer(bounds.tobytes()), pa.py_buffer(text)
        )

    @property
    def count(self) -> int:
        """The number of lines."""
        return len(self.bounds) - 1

    def text(self, line: NDArray[np.int64], spans: NDArray[np.int64]) -> pa.Array[Any]:
        """The text of ``line`` plus ``spans`` following lines, without the final line break."""
        if len(line) == 0:
            return pa.array([], pa.string())
        last = np.minimum(line + spans, self.count)
        single = pc.utf8_rtrim(self._lines.take(line - 1), characters="\r\n")
        if not np.any(last > line):
            return single.cast(pa.string())
        texts = single.to_pylist()
        for i in np.flatnonzero(last > line):
            piece = self._text[self.bounds[line[i] - 1] : self.bounds[last[i]]]
            texts[i] = piece.decode("utf-8", "replace").rstrip("\r\n")
        return pa.array(texts, pa.string())

    def has_replacement(
        self, line: NDArray[np.int64], spans: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        """Whether any of the lines ``line .. line + spans`` holds U+FFFD (an undecodable byte)."""
        chars = np.frombuffer(self._text, np.uint8)
        size = len(chars)
        if size < 3:
            return np.zeros(len(line), bool)
        first = np.flatnonzero(chars[: size - 2] == _REPLACEMENT[0])
        first = first[(chars[first + 1] == _REPLACEMENT[1]) & (chars[first + 2] == _REPLACEMENT[2])]
        bad_line = np.zeros(self.count + 1, np.int64)  # index = line number
        bad_line[np.searchsorted(self.bounds, first, side="right")] = 1
        seen = np.cumsum(bad_line)
        last = np.minimum(line + spans, self.count)
        return np.asarray(seen[last] - seen[line - 1] > 0)
