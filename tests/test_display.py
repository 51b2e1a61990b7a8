"""printable(): what a terminal shows of data is the data, visibly, on one line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storemon.display import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain store-7a", "plain store-7a"),
        ("é 東京 naïve", "é 東京 naïve"),
        ("a\nb", "a\\nb"),
        ("a\r\nb\tc", "a\\r\\nb\\tc"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("c1 \x9b31m", "c1 \\x9b31m"),
        ("bidi \u202eevil\u202c", "bidi \\u202eevil\\u202c"),
        ("zero\u200bwidth \ufeffbom \u2028sep", "zero\\u200bwidth \\ufeffbom \\u2028sep"),
        ("nbsp\xa0 private\ue000 astral\U000e0001", "nbsp\\xa0 private\\ue000 astral\\U000e0001"),
        ("back\\slash 'quotes\"", "back\\slash 'quotes\""),
    ],
)
def test_controls_are_escaped_and_text_kept(text: str, shown: str) -> None:
    assert printable(text) == shown


@given(st.text())
def test_nothing_unsafe_survives(text: str) -> None:
    shown = printable(text)
    assert all(ch.isprintable() or ch == " " for ch in shown), repr(shown)
    assert "\n" not in shown
    if text.isprintable():
        assert shown == text
