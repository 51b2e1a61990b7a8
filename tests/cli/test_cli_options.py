"""The shared options repeat two vocabularies of storemon.schema: they must agree."""

from __future__ import annotations

from storemon import schema
from storemon.cli import _options


def test_choices_are_the_schemas() -> None:
    assert _options.INTERPOLATIONS == schema.INTERPOLATIONS
    assert _options.SOURCES == schema.SOURCES
