"""The PostgreSQL schema: the database itself (created when asked), then the migrations.

:func:`migrate` applies every migration of :data:`storemon.store.migrations.POSTGRES`
not yet recorded, each in its own transaction with its ``schema_migrations`` row,
under a transaction-level advisory lock, so that several processes opening a new
database at once apply each migration once.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from storemon.store import migrations

__all__ = ["MIGRATION_LOCK", "check_encoding", "migrate"]

_Conn = psycopg.Connection[Any]

MIGRATION_LOCK: Final = 7_263_001


def check_encoding(conn: _Conn) -> str | None:
    """The server encoding when it is not UTF8 (storemon needs UTF8), else None."""
    row = conn.execute("SHOW server_encoding").fetchone()
    encoding = None if row is None else str(row[0])
    return None if encoding is not None and encoding.upper() in {"UTF8", "UTF-8"} else encoding


def migrate(conn: _Conn) -> None:
    """Bring the schema to the latest version (``conn`` in autocommit mode)."""
    with conn.transaction():  # the lock keeps two processes from racing here
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL)"
        )
    for migration in migrations.POSTGRES:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", [migration.version]
            ).fetchone()
            if done is not None:
                continue
            for statement in migration.statements:
                conn.execute(statement.encode())
            conn.execute(
                "INSERT INTO schema_migrations VALUES (%s, %s, now())",
                [migration.version, migration.name],
            )
