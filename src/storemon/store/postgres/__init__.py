"""The PostgreSQL backend: the store, its connections, bulk paths and migrations."""

from __future__ import annotations

from storemon.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
