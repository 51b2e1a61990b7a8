"""Taking a test's PostgreSQL database away under a store, as a server restart or an
outage would (helpers for tests; fixtures are in conftest)."""

from __future__ import annotations


def terminate_sessions(pg_admin_url: str, pg_url: str, *, refuse_new: bool = False) -> None:
    """End every session on the database of ``pg_url`` (what a restart of PostgreSQL
    does to pooled connections); with ``refuse_new`` let no new session in either."""
    import psycopg
    from psycopg import sql

    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        if refuse_new:
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name))
            )
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
