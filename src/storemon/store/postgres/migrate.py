"""The PostgreSQL schema: the database itself (created when asked), then the migrations.

A database that does not exist is found out through the server's maintenance
database (``postgres``), not from the wording of the error (which follows the
server's language). :func:`create_database` makes it ``ENCODING 'UTF8'`` from
``template0``; two processes creating it at once both go on.

:func:`migrate` applies every migration of :data:`storemon.store.migrations.POSTGRES`
not yet recorded, each in its own transaction with its ``schema_migrations`` row,
under a transaction-level advisory lock, so that several processes opening a new
database at once apply each migration once.
"""

from __future__ import annotations

import contextlib
import shlex
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from storemon.store import migrations

__all__ = [
    "MIGRATION_LOCK",
    "check_encoding",
    "create_database",
    "createdb_command",
    "migrate",
    "missing_database",
]

_Conn = psycopg.Connection[Any]

MIGRATION_LOCK: Final = 7_263_001
_MAINTENANCE_DB: Final = "postgres"
_CONNECT_TIMEOUT_SECONDS: Final = 10


def _maintenance(conninfo: str) -> _Conn:
    return psycopg.connect(
        make_conninfo(conninfo, dbname=_MAINTENANCE_DB),
        autocommit=True,
        connect_timeout=_CONNECT_TIMEOUT_SECONDS,
    )


def _database_name(conninfo: str) -> str | None:
    params = conninfo_to_dict(conninfo)
    name = params.get("dbname") or params.get("user")  # libpq's default: the user's name
    return None if name is None else str(name)


def missing_database(conninfo: str) -> str | None:
    """The name of the database ``conninfo`` names when the server answers and has no
    database of that name; None when it exists or the server cannot tell us."""
    name = _database_name(conninfo)
    if name is None or name == _MAINTENANCE_DB:
        return None
    try:
        with _maintenance(conninfo) as admin:
            row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    except psycopg.Error:
        return None
    return name if row is None else None


def create_database(conninfo: str, name: str) -> None:
    """``CREATE DATABASE name ENCODING 'UTF8'`` through the maintenance database."""
    statement = sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0")
    # Another process created it a moment ago: DuplicateDatabase, or, when both created
    # it at the same time, a UniqueViolation on pg_database's name index.
    taken = (pg_errors.DuplicateDatabase, pg_errors.UniqueViolation)
    with _maintenance(conninfo) as admin, contextlib.suppress(*taken):
        admin.execute(statement.format(sql.Identifier(name)))


def createdb_command(conninfo: str, name: str) -> str:
    """The shell command that creates the database (``createdb`` with the URL's host,
    port and user; no password: libpq asks for it or reads ~/.pgpass)."""
    params = conninfo_to_dict(conninfo)
    words = ["createdb"]
    for option, key in (("--host", "host"), ("--port", "port"), ("--username", "user")):
        if params.get(key):
            words.append(f"{option}={shlex.quote(str(params[key]))}")
    words += ["--encoding=UTF8", "--template=template0", shlex.quote(name)]
    return " ".join(words)


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
