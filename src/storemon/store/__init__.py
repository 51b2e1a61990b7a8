"""The database port and its two implementations, chosen by URL."""

from __future__ import annotations

from storemon.store.base import IngestBatch, JobRecord, JobStatus, ReportInputs, Store

__all__ = ["IngestBatch", "JobRecord", "JobStatus", "ReportInputs", "Store", "open_store"]


def open_store(url: str) -> Store:
    """Open (creating and migrating as needed) the database at ``url``.

    ``duckdb:///relative/file.duckdb``, ``duckdb:////abs/file.duckdb`` or
    ``postgresql://user@host:port/dbname``. A bad URL raises ConfigError.
    """
    raise NotImplementedError("storemon.store.open_store: being built (issue 3)")
