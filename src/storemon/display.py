"""Text from data, made safe to show on a terminal or write into a log line.

A store id, a file name or a reject reason comes from input that storemon does not
control. Printed raw, an ESC sequence in it can clear the screen, recolour or
rewrite earlier output, and a newline or carriage return can forge a whole line.
:func:`printable` escapes every such character, so what is shown is what the data
holds, visibly, on one line.
"""

from __future__ import annotations

from typing import Final

__all__ = ["printable"]

_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char == " " or char.isprintable():
        return char
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character that Python does not call printable escaped.

    That is what ``repr()`` escapes: C0 and C1 controls, DEL, the invisible format
    characters (bidirectional overrides, zero-width characters, a byte order mark),
    line and paragraph separators, spaces other than the ASCII one, surrogates,
    private-use and unassigned code points. ``\\n``, ``\\r`` and ``\\t`` become
    those two-character escapes, others ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``.
    Ordinary text in any script (``é``, ``東京``) is kept; backslashes and quotes too.
    """
    if text.isprintable():
        return text
    return "".join(map(_escape, text))
