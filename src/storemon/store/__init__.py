"""The database port and its two implementations, chosen by URL."""

from __future__ import annotations

from pathlib import Path

from storemon.errors import StoreError
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


def open_store(url: str, *, create: bool = True) -> Store:
    """Open (creating and migrating as needed) the database at ``url``.

    ``duckdb:///relative/file.duckdb``, ``duckdb:////abs/file.duckdb``,
    ``duckdb:///:memory:`` or ``postgresql://user@host:port/dbname`` (also
    ``postgres://``). A bad URL raises ConfigError; a database that cannot be
    opened raises StoreError, and so does, with ``create=False``, a DuckDB file
    that does not exist.
    """
    parsed = parse_url(url)
    if parsed.backend == "duckdb":
        target = Path(parsed.target).expanduser()
        if not create and parsed.target != ":memory:" and not target.exists():
            raise StoreError(
                f"database {url} does not exist: no file {target.resolve()} (check the "
                "path in --db / STOREMON_DB; `storemon ingest` or `storemon demo` creates it)"
            )
        from storemon.store.duckdb import DuckDBStore

        return DuckDBStore(url, parsed.target)
    from storemon.store.postgres import PostgresStore

    return PostgresStore(url, parsed.target)
