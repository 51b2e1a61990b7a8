"""Database URLs: parsing and redaction."""

from __future__ import annotations

import pytest

from storemon.errors import ConfigError
from storemon.store.urls import parse_url, redact_url


@pytest.mark.parametrize(
    ("url", "backend", "target"),
    [
        ("duckdb:///storemon.duckdb", "duckdb", "storemon.duckdb"),
        ("duckdb:///data/x.duckdb", "duckdb", "data/x.duckdb"),
        ("duckdb:////var/lib/x.duckdb", "duckdb", "/var/lib/x.duckdb"),
        ("duckdb:///:memory:", "duckdb", ":memory:"),
        ("postgresql://u@h:5432/db", "postgres", "postgresql://u@h:5432/db"),
        ("postgres://u@h/db", "postgres", "postgres://u@h/db"),
    ],
)
def test_parse_url(url: str, backend: str, target: str) -> None:
    parsed = parse_url(url)
    assert (parsed.backend, parsed.target) == (backend, target)


def test_parse_url_explains_the_slashes() -> None:
    with pytest.raises(ConfigError, match="three slashes"):
        parse_url("duckdb://x.duckdb")


def test_redact_url() -> None:
    assert redact_url("postgresql://me:s3cr@t@host:5432/db") == "postgresql://me:***@host:5432/db"
    assert redact_url("postgresql://me@host/db") == "postgresql://me@host/db"
    assert redact_url("duckdb:///x.duckdb") == "duckdb:///x.duckdb"
