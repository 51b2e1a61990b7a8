"""The database port and its two implementations, chosen by URL."""

from __future__ import annotations

from storemon.store._common import parse_url, redact_url
from storemon.store.base import IngestBatch, JobRecord, JobStatus, ReportInputs, Store

__all__ = [
    "IngestBatch",
    "JobRecord",
    "JobStatus",
    "ReportInputs",
    "Store",
    "open_store",
    "redact_url",
]


def open_store(url: str) -> Store:
    """Open (creating and migrating as needed) the database at ``url``.

    ``duckdb:///relative/file.duckdb``, ``duckdb:////abs/file.duckdb``,
    ``duckdb:///:memory:`` or ``postgresql://user@host:port/dbname`` (also
    ``postgres://``). A bad URL raises ConfigError; a database that cannot be
    opened raises StoreError.
    """
    parsed = parse_url(url)
    if parsed.backend == "duckdb":
        from storemon.store.duckdb import DuckDBStore

        return DuckDBStore(url, parsed.target)
    from storemon.store.postgres import PostgresStore

    return PostgresStore(url, parsed.target)
