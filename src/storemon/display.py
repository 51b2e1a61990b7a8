"""Text from data, made safe to show on a terminal or write into a log line.

A store id, a file name or a reject reason comes from input that storemon does not
control. Printed raw, an ESC sequence in it can clear the screen, recolour or
rewrite earlier output, and a newline or carriage return can forge a whole line.
:func:`printable` escapes every such character, so what is shown is what the data
holds, visibly, on one line.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["printable"]

_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

#: C0 controls, DEL, C1 controls, and the invisible format characters that reorder
#: or hide text (bidirectional overrides and isolates, zero-width characters, the
#: line and paragraph separators, and a byte order mark inside the text).
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control and invisible formatting characters escaped.

    ``\\n``, ``\\r`` and ``\\t`` become those two-character escapes, other C0/C1
    controls and DEL ``\\xNN``, the invisible format characters ``\\uNNNN``.
    Everything else, including ordinary non-ASCII text (``é``, ``東京``), is kept.
    """
    return _UNSAFE.sub(_escape, text)
