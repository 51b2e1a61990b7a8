"""Shared fixtures: fresh databases on both backends, and Arrow table builders.

- ``duckdb_url``: a DuckDB file under ``tmp_path``.
- ``pg_admin_url`` / ``pg_url``: a fresh PostgreSQL database per test, dropped
  after. Unreachable server: the test is skipped with the reason, or fails when
  ``STOREMON_REQUIRE_PG=1`` (CI).
- ``store_url`` / ``store``: parametrized over ``duckdb`` and ``postgres`` (the
  latter marked ``postgres``), so one test body runs on both backends.
- ``tables``: builders for schema-conformant Arrow tables from Python rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from storemon import schema
from storemon.store import Store, open_store

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("STOREMON_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL is required (STOREMON_REQUIRE_PG=1) but {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason} (set STOREMON_TEST_PG to a server)")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The admin URL of the test PostgreSQL server (env ``STOREMON_TEST_PG``)."""
    return os.environ.get("STOREMON_TEST_PG", DEFAULT_PG_ADMIN_URL)


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database ``storemon_test_<random>``; dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"storemon_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(pg_admin_url, autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        _pg_unavailable(f"cannot connect to {pg_admin_url}: {str(error).strip()}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = pg_admin_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    """A DuckDB file under ``tmp_path`` (absolute path: four slashes)."""
    return f"duckdb:///{tmp_path / 'storemon.duckdb'}"


@pytest.fixture(
    params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL on each backend."""
    name = "duckdb_url" if request.param == "duckdb" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, migrated, empty store on each backend; closed afterwards."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def utc(text: str) -> datetime:
    """``2023-01-23 10:14[:ss[.ffffff]]`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Tables:
    """Builders for schema-conformant Arrow tables (rows in file order)."""

    @staticmethod
    def polls(rows: Sequence[tuple[str, str | datetime, bool]]) -> pa.Table:
        """``(store_id, "YYYY-MM-DD HH:MM[:SS]" or datetime, active)`` rows."""
        return pa.Table.from_pylist(
            [
                {
                    "store_id": store_id,
                    "timestamp_utc": utc(at) if isinstance(at, str) else at,
                    "active": active,
                }
                for store_id, at, active in rows
            ],
            schema=schema.POLLS,
        )

    @staticmethod
    def hours(rows: Sequence[tuple[str, int, str, str]]) -> pa.Table:
        """``(store_id, day_of_week, "HH:MM", "HH:MM")`` rows (``24:00`` allowed)."""

        def us(text: str) -> int:
            hours, minutes = text.split(":")
            return (int(hours) * 3600 + int(minutes) * 60) * schema.US_PER_SECOND

        return pa.Table.from_pylist(
            [
                {
                    "store_id": store_id,
                    "day_of_week": day,
                    "start_local_us": us(start),
                    "end_local_us": us(end),
                }
                for store_id, day, start, end in rows
            ],
            schema=schema.HOURS,
        )

    @staticmethod
    def timezones(rows: Sequence[tuple[str, str]]) -> pa.Table:
        """``(store_id, timezone_str)`` rows."""
        return pa.Table.from_pylist(
            [{"store_id": store_id, "timezone_str": zone} for store_id, zone in rows],
            schema=schema.TIMEZONES,
        )

    @staticmethod
    def rejects(rows: Sequence[tuple[str, str, int, str, str]]) -> pa.Table:
        """``(source, file, line, reason, raw)`` rows."""
        names = schema.REJECTS.names
        return pa.Table.from_pylist(
            [dict(zip(names, row, strict=True)) for row in rows], schema=schema.REJECTS
        )


@pytest.fixture
def tables() -> type[Tables]:
    """The :class:`Tables` builders."""
    return Tables


_PG_FIXTURES = frozenset({"pg_url", "pg_admin_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what `make test-fast` leaves out, whatever the test file says: a test that
    uses a PostgreSQL fixture is ``postgres``, one under tests/e2e ``e2e``, one in
    tests/test_benchmarks.py ``bench``."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _PG_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        path = Path(str(item.path))
        if "e2e" in path.parts:
            item.add_marker(pytest.mark.e2e)
        if path.name == "test_benchmarks.py":
            item.add_marker(pytest.mark.bench)
