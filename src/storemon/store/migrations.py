"""Versioned schema migrations for both backends.

Each backend keeps a ``schema_migrations`` table (version, name, applied_at). At
open, every migration whose version is not in it is applied, in order, each in
its own transaction together with its ``schema_migrations`` row. Migrations are
append-only: never edit a released one, add the next version.

Instants are stored in UTC: DuckDB as ``TIMESTAMP`` (naive, always UTC — this
avoids needing DuckDB's ICU extension for ``TIMESTAMPTZ``), PostgreSQL as
``timestamptz``. Times of day are ``BIGINT`` microseconds since local midnight.

DuckDB's data tables have no primary key: an ART index makes a bulk load of
1.8 M polls ~8x slower and the file ~7x larger, so uniqueness of
(store_code, timestamp_utc) is kept by the single, serialized writer (update +
anti-join insert). PostgreSQL enforces it with a primary key, and its store ids
use ``COLLATE "C"``: byte order (as SPEC.md sorts), and B-tree inserts without
the cost of locale-aware comparison.

Since migration 3, polls are keyed by an integer store code: ``stores`` gives each
store id a non-negative int32 code once, at ingest, and ``polls.store_code``
refers to it (no foreign key: codes are assigned in the same transaction that
inserts the polls, and a foreign-key check per poll would slow bulk ingest).
Existing polls are converted by the migration: codes numbered 0, 1, … in byte
order of the ids, the table rebuilt in time order.

Migration 4 gives jobs their report ``options`` (canonical JSON; existing jobs get
``'{}'``, so the plain report keeps reusing them), the compute's ``summary``, and a
lease (``lease_owner``, ``lease_expires_at``) for claiming a job when several
servers share a database; rejects a nullable ``store_id``; and adds the ledger of
ingested files (``ingested_files``: ingest id, source, file name, sha256 of its bytes).

Migration 5 partitions PostgreSQL's ``polls`` by time: a declaratively range-partitioned
table on ``timestamp_utc``, one partition per UTC week starting Monday 00:00
(``polls_wYYYYMMDD``), each with the primary key (store_code, timestamp_utc) and a BRIN
index on the instant (both declared on the parent). The existing polls are moved into the
partitions of the weeks they fall in, in the migration's one transaction. DuckDB's
migration 5 adds ``poll_span``: each store's first poll instant and its latest poll
(instant and status), kept by every ingest and prune, from which a report finds each
store's last poll before its window without scanning every older poll.

Migration 6 gives ``job_results`` an ``encoding``: ``'identity'`` for the results stored
before it, ``'gzip'`` for those stored since (a report's CSV shrinks about 2.4x; on
DuckDB every byte of a result goes through the write-ahead log, whose checkpoints
pause the other writers, triggers included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Migration:
    """One schema change: a version number, a name, and its SQL statements."""

    version: int
    name: str
    statements: tuple[str, ...]


DUCKDB: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "initial schema",
        (
            "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value BIGINT)",
            "INSERT INTO meta VALUES ('data_version', 0), ('latest_poll_us', NULL)",
            "CREATE TABLE polls (store_id VARCHAR NOT NULL, timestamp_utc TIMESTAMP NOT NULL,"
            " active BOOLEAN NOT NULL)",
            "CREATE TABLE hours (store_id VARCHAR NOT NULL, day_of_week TINYINT NOT NULL,"
            " start_local_us BIGINT NOT NULL, end_local_us BIGINT NOT NULL)",
            "CREATE TABLE timezones (store_id VARCHAR NOT NULL, timezone_str VARCHAR NOT NULL)",
            "CREATE TABLE ingests (id BIGINT PRIMARY KEY, ingested_at TIMESTAMP NOT NULL,"
            " files VARCHAR NOT NULL)",
            "CREATE TABLE rejects (ingest_id BIGINT NOT NULL, source VARCHAR NOT NULL,"
            " file VARCHAR NOT NULL, line BIGINT NOT NULL, reason VARCHAR NOT NULL,"
            " raw VARCHAR NOT NULL)",
            "CREATE TABLE jobs (id VARCHAR PRIMARY KEY, status VARCHAR NOT NULL,"
            " interpolation VARCHAR NOT NULL, as_of_requested TIMESTAMP,"
            " data_version BIGINT NOT NULL, created_at TIMESTAMP NOT NULL,"
            " started_at TIMESTAMP, finished_at TIMESTAMP, as_of_used TIMESTAMP,"
            " row_count BIGINT, error VARCHAR)",
            "CREATE TABLE job_results (job_id VARCHAR PRIMARY KEY, csv BLOB NOT NULL)",
        ),
    ),
    Migration(
        2,
        "count the attempts of each job",
        ("ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",),
    ),
    Migration(
        3,
        "store codes: polls keyed by an integer code",
        (
            "CREATE TABLE stores (code INTEGER PRIMARY KEY CHECK (code >= 0),"
            " store_id VARCHAR NOT NULL UNIQUE)",
            "INSERT INTO stores SELECT (row_number() OVER (ORDER BY store_id) - 1)::INTEGER,"
            " store_id FROM (SELECT DISTINCT store_id FROM polls)",
            "ALTER TABLE polls RENAME TO polls_v2",
            "CREATE TABLE polls (store_code INTEGER NOT NULL, timestamp_utc TIMESTAMP NOT NULL,"
            " active BOOLEAN NOT NULL)",
            "INSERT INTO polls SELECT s.code, p.timestamp_utc, p.active FROM polls_v2 p"
            " JOIN stores s ON s.store_id = p.store_id ORDER BY p.timestamp_utc, s.code",
            "DROP TABLE polls_v2",
        ),
    ),
    Migration(
        4,
        "report options and summaries, job leases, reject store ids, ingested-file ledger",
        (
            "ALTER TABLE jobs ADD COLUMN options VARCHAR NOT NULL DEFAULT '{}'",
            "ALTER TABLE jobs ADD COLUMN summary VARCHAR",
            "ALTER TABLE jobs ADD COLUMN lease_owner VARCHAR",
            "ALTER TABLE jobs ADD COLUMN lease_expires_at TIMESTAMP",
            "ALTER TABLE rejects ADD COLUMN store_id VARCHAR",
            "CREATE TABLE ingested_files (ingest_id BIGINT NOT NULL, source VARCHAR NOT NULL,"
            " name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL)",
        ),
    ),
    Migration(
        5,
        "each store's first and latest poll (poll_span), so a report's read of the last"
        " poll before its window does not scan all history",
        (
            "CREATE TABLE poll_span (store_code INTEGER PRIMARY KEY,"
            " first_utc TIMESTAMP NOT NULL, latest_utc TIMESTAMP NOT NULL,"
            " latest_active BOOLEAN NOT NULL)",
            "INSERT INTO poll_span SELECT store_code, min(timestamp_utc), max(timestamp_utc),"
            " arg_max(active, timestamp_utc) FROM polls GROUP BY store_code",
        ),
    ),
    Migration(
        6,
        "job results stored compressed",
        ("ALTER TABLE job_results ADD COLUMN encoding VARCHAR NOT NULL DEFAULT 'identity'",),
    ),
)

POSTGRES: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "initial schema",
        (
            "CREATE TABLE meta (key text PRIMARY KEY, value bigint)",
            "INSERT INTO meta VALUES ('data_version', 0), ('latest_poll_us', NULL)",
            'CREATE TABLE polls (store_id text COLLATE "C" NOT NULL,'
            " timestamp_utc timestamptz NOT NULL, active boolean NOT NULL,"
            " PRIMARY KEY (store_id, timestamp_utc))",
            'CREATE TABLE hours (store_id text COLLATE "C" NOT NULL,'
            " day_of_week smallint NOT NULL,"
            " start_local_us bigint NOT NULL, end_local_us bigint NOT NULL)",
            "CREATE INDEX hours_store_id ON hours (store_id)",
            'CREATE TABLE timezones (store_id text COLLATE "C" PRIMARY KEY,'
            " timezone_str text NOT NULL)",
            "CREATE TABLE ingests (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " ingested_at timestamptz NOT NULL, files text NOT NULL)",
            "CREATE TABLE rejects (ingest_id bigint NOT NULL REFERENCES ingests (id),"
            " source text NOT NULL, file text NOT NULL, line bigint NOT NULL,"
            " reason text NOT NULL, raw text NOT NULL)",
            "CREATE INDEX rejects_ingest_id ON rejects (ingest_id)",
            "CREATE TABLE jobs (id text PRIMARY KEY, status text NOT NULL,"
            " interpolation text NOT NULL, as_of_requested timestamptz,"
            " data_version bigint NOT NULL, created_at timestamptz NOT NULL,"
            " started_at timestamptz, finished_at timestamptz, as_of_used timestamptz,"
            " row_count bigint, error text)",
            "CREATE INDEX jobs_created_at ON jobs (created_at)",
            "CREATE TABLE job_results (job_id text PRIMARY KEY REFERENCES jobs (id),"
            " csv bytea NOT NULL)",
        ),
    ),
    Migration(
        2,
        "count the attempts of each job",
        ("ALTER TABLE jobs ADD COLUMN attempts integer NOT NULL DEFAULT 0",),
    ),
    Migration(
        3,
        "store codes: polls keyed by an integer code",
        (
            "CREATE TABLE stores (code integer PRIMARY KEY CHECK (code >= 0),"
            ' store_id text COLLATE "C" NOT NULL UNIQUE)',
            "INSERT INTO stores SELECT (row_number() OVER (ORDER BY store_id) - 1)::integer,"
            " store_id FROM (SELECT DISTINCT store_id FROM polls) AS ids",
            "ALTER TABLE polls RENAME TO polls_v2",
            "ALTER INDEX polls_pkey RENAME TO polls_v2_pkey",
            "CREATE TABLE polls (store_code integer NOT NULL,"
            " timestamp_utc timestamptz NOT NULL, active boolean NOT NULL)",
            "INSERT INTO polls SELECT s.code, p.timestamp_utc, p.active FROM polls_v2 p"
            " JOIN stores s ON s.store_id = p.store_id ORDER BY p.timestamp_utc, s.code",
            "ALTER TABLE polls ADD CONSTRAINT polls_pkey PRIMARY KEY (store_code, timestamp_utc)",
            "CREATE INDEX polls_timestamp_utc_brin ON polls USING brin (timestamp_utc)",
            "DROP TABLE polls_v2",
            "ANALYZE stores",
            "ANALYZE polls",
        ),
    ),
    Migration(
        4,
        "report options and summaries, job leases, reject store ids, ingested-file ledger",
        (
            "ALTER TABLE jobs ADD COLUMN options text NOT NULL DEFAULT '{}',"
            " ADD COLUMN summary text, ADD COLUMN lease_owner text,"
            " ADD COLUMN lease_expires_at timestamptz",
            "CREATE INDEX jobs_unfinished ON jobs (created_at)"
            " WHERE status IN ('queued', 'running')",
            "ALTER TABLE rejects ADD COLUMN store_id text",
            "CREATE TABLE ingested_files (ingest_id bigint NOT NULL REFERENCES ingests (id),"
            " source text NOT NULL, name text NOT NULL, sha256 text NOT NULL)",
            "CREATE INDEX ingested_files_name_sha256 ON ingested_files (name, sha256)",
        ),
    ),
    Migration(
        5,
        "polls partitioned by week",
        (
            "ALTER TABLE polls RENAME TO polls_v4",
            "ALTER INDEX polls_pkey RENAME TO polls_v4_pkey",
            "ALTER INDEX polls_timestamp_utc_brin RENAME TO polls_v4_brin",
            "CREATE TABLE polls (store_code integer NOT NULL,"
            " timestamp_utc timestamptz NOT NULL, active boolean NOT NULL)"
            " PARTITION BY RANGE (timestamp_utc)",
            # One partition per UTC week (Monday 00:00) that holds polls.
            "DO $$ DECLARE week timestamp; BEGIN"
            " FOR week IN SELECT DISTINCT date_trunc('week', timestamp_utc AT TIME ZONE 'UTC')"
            " FROM polls_v4 LOOP"
            " EXECUTE format('CREATE TABLE %I PARTITION OF polls FOR VALUES FROM (%L) TO (%L)',"
            " 'polls_w' || to_char(week, 'YYYYMMDD'), week AT TIME ZONE 'UTC',"
            " (week + interval '7 days') AT TIME ZONE 'UTC');"
            " END LOOP; END $$",
            "INSERT INTO polls SELECT store_code, timestamp_utc, active FROM polls_v4"
            " ORDER BY timestamp_utc, store_code",
            "DROP TABLE polls_v4",
            "ALTER TABLE polls ADD CONSTRAINT polls_pkey PRIMARY KEY (store_code, timestamp_utc)",
            "CREATE INDEX polls_timestamp_utc_brin ON polls USING brin (timestamp_utc)",
            "ANALYZE polls",
        ),
    ),
    Migration(
        6,
        "job results stored compressed",
        ("ALTER TABLE job_results ADD COLUMN encoding text NOT NULL DEFAULT 'identity'",),
    ),
)

#: The schema version a fully migrated database has (the same for both backends).
SCHEMA_VERSION: Final = max(m.version for m in DUCKDB)
