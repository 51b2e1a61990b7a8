"""Migrations on populated databases: 3 (polls keyed by integer store codes) on schema 2,
4 (job options, summaries and leases; reject store ids; the ledger) on schema 3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from storemon.errors import StoreError
from storemon.instants import to_epoch_us
from storemon.store import IngestBatch, Store, migrations, open_store
from storemon.store.base import lookback_cutoff

if TYPE_CHECKING:
    from conftest import Tables

IDS = ["0042", "42", "042", "a,b", 'q"uote', "new\nline", "ünï €", "日本", "Z", "x" * 300]
START = datetime(2023, 1, 10, tzinfo=UTC)


def _polls() -> list[tuple[str, datetime, bool]]:
    """Polls over 14 days (so some stores have polls only before a week's window)."""
    rows = []
    for i, store_id in enumerate(IDS):
        last_day = 14 if i % 3 else 5  # every third store stopped polling early
        for hour in range(0, 24 * last_day, 7 + i):
            rows.append((store_id, START + timedelta(hours=hour, seconds=i), (hour + i) % 4 != 0))
    return rows


def _version_2_duckdb(path: str, polls: list[tuple[str, datetime, bool]]) -> None:
    import duckdb

    conn = duckdb.connect(path)
    try:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
            " name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        for migration in migrations.DUCKDB[:2]:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [migration.version, migration.name, datetime(2024, 1, 1)],
            )
        conn.executemany(
            "INSERT INTO polls VALUES (?, ?, ?)",
            [[store_id, at.replace(tzinfo=None), active] for store_id, at, active in polls],
        )
        _fill_the_rest(conn, "?", polls)
    finally:
        conn.close()


def _version_2_postgres(url: str, polls: list[tuple[str, datetime, bool]]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL)"
        )
        for migration in migrations.POSTGRES[:2]:
            for statement in migration.statements:
                conn.execute(statement.encode())
            conn.execute(
                "INSERT INTO schema_migrations VALUES (%s, %s, now())",
                [migration.version, migration.name],
            )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO polls VALUES (%s, %s, %s)", polls)
        _fill_the_rest(conn, "%s", polls)


def _fill_the_rest(conn: Any, mark: str, polls: list[tuple[str, datetime, bool]]) -> None:
    """Hours, a zone, a reject, a job and the meta values a schema-2 database would hold."""
    latest = max(at for _, at, _ in polls)
    conn.execute(
        f"UPDATE meta SET value = {mark} WHERE key = 'latest_poll_us'", [to_epoch_us(latest)]
    )
    conn.execute("UPDATE meta SET value = 7 WHERE key = 'data_version'")
    conn.execute("INSERT INTO hours VALUES ('0042', 0, 0, 3600000000)")
    conn.execute("INSERT INTO timezones VALUES ('a,b', 'Asia/Tokyo')")
    if mark == "?":  # DuckDB: ids are given; PostgreSQL: an identity column gives 1
        conn.execute("INSERT INTO ingests VALUES (1, ?, '{}')", [datetime(2024, 1, 1)])
    else:
        conn.execute("INSERT INTO ingests (ingested_at, files) VALUES (now(), '{}')")
    conn.execute("INSERT INTO rejects VALUES (1, 'status', 's.csv', 3, 'bad', 'x')")


def _expected_inputs(
    polls: list[tuple[str, datetime, bool]], as_of: datetime
) -> list[tuple[str, datetime, bool]]:
    """What report_inputs returns, computed the slow way: the window plus each last before."""
    cutoff = lookback_cutoff(as_of)
    window = [row for row in polls if cutoff < row[1] <= as_of]
    last: dict[str, tuple[str, datetime, bool]] = {}
    for row in sorted(polls, key=lambda row: row[1]):
        if row[1] <= cutoff:
            last[row[0]] = row
    return sorted(window + list(last.values()))


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    assert table.schema.field("store_id").type == pa.dictionary(pa.int32(), pa.string())
    text = table.set_column(0, "store_id", table.column("store_id").cast(pa.string()))
    return sorted(tuple(row.values()) for row in text.to_pylist())


def _query(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return store.execute_sql(sql)


def test_a_populated_version_2_database_keeps_its_polls(
    store_url: str, tables: type[Tables]
) -> None:
    polls = _polls()
    if store_url.startswith("duckdb"):
        _version_2_duckdb(store_url.removeprefix("duckdb:///"), polls)
    else:
        _version_2_postgres(store_url, polls)
    latest = max(at for _, at, _ in polls)

    store = open_store(store_url)  # migrates to version 3
    try:
        assert store.schema_version() == migrations.SCHEMA_VERSION == 6
        assert store.counts() == {
            "polls": len(polls),
            "hours": 1,
            "timezones": 1,
            "rejects": 1,
            "stores": len(IDS),
        }
        assert store.data_version() == 7
        assert store.latest_poll_utc() == latest
        # Codes numbered from 0 in byte order of the ids.
        by_bytes = sorted(IDS, key=lambda store_id: store_id.encode())
        codes = dict(_query(store, "SELECT store_id, code FROM stores"))
        assert codes == {store_id: code for code, store_id in enumerate(by_bytes)}
        for as_of in (latest, START + timedelta(days=9, hours=5), START + timedelta(days=2)):
            inputs = store.report_inputs(as_of)
            assert _rows(inputs.polls) == _expected_inputs(polls, as_of)
        assert _rows(store.report_inputs(None).polls) == _expected_inputs(polls, latest)
        assert _query(store, "SELECT store_id FROM hours") == [("0042",)]
        assert store.rejects().num_rows == 1

        # Ingests work on the migrated tables: a re-ingest writes nothing, a changed
        # poll is updated, a new id gets the next code.
        store.apply_ingest(IngestBatch(polls=tables.polls(polls)))
        assert store.counts()["polls"] == len(polls)
        changed = (polls[0][0], polls[0][1], not polls[0][2])
        new = ("0043", latest, True)
        store.apply_ingest(IngestBatch(polls=tables.polls([changed, new])))
        assert store.counts()["polls"] == len(polls) + 1
        assert dict(_query(store, "SELECT store_id, code FROM stores"))["0043"] == len(IDS)
        expected = _expected_inputs([changed, new, *polls[1:]], latest)
        assert _rows(store.report_inputs(latest).polls) == expected
    finally:
        store.close()


def test_a_read_only_duckdb_open_migrates_a_version_2_file_first(tmp_path: Path) -> None:
    polls = _polls()
    path = tmp_path / "old.duckdb"
    _version_2_duckdb(str(path), polls)
    latest = max(at for _, at, _ in polls)
    store = open_store(f"duckdb:///{path}", create=False, read_only=True)
    try:
        assert store.schema_version() == migrations.SCHEMA_VERSION
        assert _rows(store.report_inputs(None).polls) == _expected_inputs(polls, latest)
    finally:
        store.close()


def test_a_migration_failing_midway_leaves_the_version_2_database_as_it_was(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = _polls()
    if store_url.startswith("duckdb"):
        _version_2_duckdb(store_url.removeprefix("duckdb:///"), polls)
        name = "DUCKDB"
    else:
        _version_2_postgres(store_url, polls)
        name = "POSTGRES"
    chain = getattr(migrations, name)
    third = chain[2]
    # Everything but the last statement runs (stores filled, polls rebuilt, polls_v2
    # dropped), then the database refuses one.
    failing = migrations.Migration(
        third.version, third.name, (*third.statements[:-1], "SELECT * FROM no_such_table")
    )
    monkeypatch.setattr(migrations, name, (*chain[:2], failing))
    with pytest.raises(StoreError, match="no_such_table"):
        open_store(store_url)
    monkeypatch.undo()

    tables = "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%polls%'"
    if store_url.startswith("duckdb"):
        import duckdb

        conn = duckdb.connect(store_url.removeprefix("duckdb:///"))
        try:
            versions = conn.execute("SELECT version FROM schema_migrations").fetchall()
            names = conn.execute(tables).fetchall()
            kept = conn.execute("SELECT store_id, timestamp_utc, active FROM polls").fetchall()
            kept = [(store_id, at.replace(tzinfo=UTC), active) for store_id, at, active in kept]
            stores = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'stores'"
            ).fetchall()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            versions = conn.execute("SELECT version FROM schema_migrations").fetchall()
            names = conn.execute(tables).fetchall()
            kept = conn.execute("SELECT store_id, timestamp_utc, active FROM polls").fetchall()
            stores = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'stores'"
            ).fetchall()
    assert sorted(versions) == [(1,), (2,)]
    assert names == [("polls",)]
    assert stores == [(0,)]
    assert sorted(kept) == sorted(polls)

    store = open_store(store_url)  # the real migration 3 then runs as on any version 2
    try:
        assert store.schema_version() == migrations.SCHEMA_VERSION
        latest = max(at for _, at, _ in polls)
        assert _rows(store.report_inputs(latest).polls) == _expected_inputs(polls, latest)
    finally:
        store.close()


@pytest.mark.postgres
def test_the_migrated_postgres_table_keeps_its_primary_key(pg_url: str) -> None:
    import psycopg

    _version_2_postgres(pg_url, _polls())
    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'polls' ORDER BY indexname"
        ).fetchall()
        assert indexes == [("polls_pkey",), ("polls_timestamp_utc_brin",)]
        assert conn.execute("SELECT to_regclass('polls_v2')").fetchone() == (None,)
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO polls SELECT store_code, timestamp_utc, NOT active FROM polls LIMIT 1"
            )


def _version_3(store_url: str) -> None:
    """A populated schema-3 database: a version-2 one migrated by the real migration 3."""
    polls = _polls()
    if store_url.startswith("duckdb"):
        _version_2_duckdb(store_url.removeprefix("duckdb:///"), polls)
    else:
        _version_2_postgres(store_url, polls)
    chains = {"DUCKDB": migrations.DUCKDB, "POSTGRES": migrations.POSTGRES}
    with pytest.MonkeyPatch.context() as patch:
        for name, chain in chains.items():
            patch.setattr(migrations, name, chain[:3])
        open_store(store_url).close()
    job = (
        "INSERT INTO jobs (id, status, interpolation, as_of_requested, data_version,"
        " created_at, started_at, finished_at, as_of_used, row_count, error, attempts)"
        " VALUES ('old', 'complete', 'nearest', NULL, 7, TIMESTAMP '2024-01-01 00:00:00',"
        " TIMESTAMP '2024-01-01 00:00:01', TIMESTAMP '2024-01-01 00:00:02',"
        " TIMESTAMP '2023-01-23 17:00:00', 2, NULL, 1)"
    )
    csv = [b"store_id\nS\n"]
    if store_url.startswith("duckdb"):
        import duckdb

        conn = duckdb.connect(store_url.removeprefix("duckdb:///"))
        try:
            conn.execute(job)
            conn.execute("INSERT INTO job_results VALUES ('old', ?)", csv)
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute(job)
            conn.execute("INSERT INTO job_results VALUES ('old', %s)", csv)


def test_version_4_keeps_the_jobs_and_the_plain_report_reuses_them(store_url: str) -> None:
    _version_3(store_url)
    store = open_store(store_url)
    try:
        assert store.schema_version() == migrations.SCHEMA_VERSION
        old = store.get_job("old")
        assert old is not None
        assert (old.status, old.options, old.summary) == ("complete", "{}", None)
        assert (old.lease_owner, old.lease_expires_at) == (None, None)
        found = store.find_reusable_job(
            as_of_requested=None, interpolation="nearest", data_version=7
        )
        assert found == old  # a trigger without options reuses the finished job
        assert store.job_result("old") == b"store_id\nS\n"
        rejects = store.rejects()
        assert rejects.num_rows == 1
        assert rejects.column("store_id").to_pylist() == [None]
        assert store.ingested_file("s.csv", "ab" * 32) is None
    finally:
        store.close()
