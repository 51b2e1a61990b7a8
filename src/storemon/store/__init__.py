"""The database port and its two implementations, chosen by URL."""

from __future__ import annotations

from storemon.store.base import (
    DataStore,
    IngestBatch,
    JobRecord,
    JobStatus,
    JobStore,
    ReportInputs,
    Store,
    StoreRange,
)
from storemon.store.urls import parse_url, redact_url

__all__ = [
    "DataStore",
    "IngestBatch",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "ReportInputs",
    "Store",
    "StoreRange",
    "open_store",
    "redact_url",
]


def open_store(url: str, *, create: bool = True, read_only: bool = False) -> Store:
    """Open (migrating as needed) the database at ``url``.

    ``duckdb:///relative/file.duckdb``, ``duckdb:////abs/file.duckdb``,
    ``duckdb:///:memory:`` or ``postgresql://user@host:port/dbname`` (also
    ``postgres://``). With ``create`` (the default) a database that does not exist
    is created: a new DuckDB file; on PostgreSQL ``CREATE DATABASE`` through the
    server's ``postgres`` database. With ``create=False`` (read-only commands) it is
    a StoreError that says it does not exist and how to create it, and nothing is
    created. A bad URL raises ConfigError; a database that cannot be opened raises
    StoreError.

    ``read_only`` opens a DuckDB file read-only (after bringing its schema up to date),
    so that other processes may read it meanwhile — the workers of a Dask cluster —
    and none may write it. PostgreSQL lets processes share a database anyway: there it
    changes nothing.
    """
    parsed = parse_url(url)
    if parsed.backend == "duckdb":
        from storemon.store.duckdb import DuckDBStore

        return DuckDBStore(url, parsed.target, create=create, read_only=read_only)
    from storemon.store.postgres import PostgresStore

    return PostgresStore(url, parsed.target, create=create)
