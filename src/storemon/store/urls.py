"""Database URLs: which backend a URL names, and how to show one without its password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from storemon.errors import ConfigError

__all__ = ["StoreUrl", "parse_url", "redact_url"]

_URL_HELP: Final = (
    "use duckdb:///relative/file.duckdb, duckdb:////absolute/file.duckdb, "
    "duckdb:///:memory: or postgresql://user@host:port/dbname"
)


@dataclass(frozen=True)
class StoreUrl:
    """A parsed database URL: which backend, and its target (a path or a libpq URL)."""

    backend: Literal["duckdb", "postgres"]
    target: str


def parse_url(url: str) -> StoreUrl:
    """Split a storemon database URL; raise ConfigError saying what a valid one looks like."""
    text = url.strip()
    if text.startswith(("postgresql://", "postgres://")):
        return StoreUrl("postgres", text)
    if text.startswith("duckdb:///"):
        path = text[len("duckdb:///") :]
        if not path:
            raise ConfigError(f"database URL '{url}' names no file: {_URL_HELP}")
        return StoreUrl("duckdb", path)
    if text.startswith("duckdb:"):
        raise ConfigError(
            f"database URL '{url}' is not understood (three slashes before a relative "
            f"path, four before an absolute one): {_URL_HELP}"
        )
    raise ConfigError(f"unsupported database URL '{url}': {_URL_HELP}")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and status pages."""
    return re.sub(r"(://[^:/@]+):[^/]*@", r"\1:***@", url)
