"""PostgreSQL's ``polls`` partitions: one per UTC week, created by the ingest that needs it.

``polls`` is range-partitioned on ``timestamp_utc`` (migration 5). A weekly partition
``polls_wYYYYMMDD`` covers ``[Monday 00:00 UTC, next Monday)``; after a prune,
``polls_kept`` covers ``[MINVALUE, boundary)`` and holds each store's last poll before the
boundary (and any older poll ingested since). There is no DEFAULT partition: it would hold
rows of any week and so keep the planner from reading the partitions in time order (an
ordered Append), which the report's "last poll before the window" relies on.

An ingest creates the partitions of the weeks its batch holds and no partition covers,
inside its transaction and before its insert (:func:`create_for`). Only weeks that hold
polls get one, so a stray far-off timestamp (year 2203 for 2023) costs one small
partition, not a run of empty ones; an ingest that would need more than
:data:`MAX_NEW_PARTITIONS` new partitions is refused as a whole. A new partition is made
as a plain table and then attached: ``ATTACH PARTITION`` takes a SHARE UPDATE EXCLUSIVE
lock on ``polls``, so reports read on while the ingest runs (``CREATE TABLE ...
PARTITION OF`` would lock them out until it commits).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import psycopg
from numpy.typing import NDArray

from storemon.errors import StoreError
from storemon.store.retention import WEEK_US, week_start_us

_MONDAY_US: Final = week_start_us(0)

__all__ = [
    "EPOCH_US_SQL",
    "KEPT",
    "MAX_NEW_PARTITIONS",
    "create_for",
    "kept_before_us",
    "name_of",
    "rows_at_most",
    "week_partitions",
    "weeks_of",
]

_Conn = psycopg.Connection[Any]

KEPT: Final = "polls_kept"
#: At most this many partitions (weeks, about 10 years) are created by one ingest.
MAX_NEW_PARTITIONS: Final = 520
_PREFIX: Final = "polls_w"
#: The fewest bytes a row of ``polls`` takes on a heap page: a 24-byte tuple header (23,
#: aligned; no null bitmap, every column is NOT NULL), store_code 4, 4 of padding to
#: align timestamp_utc 8, active 1 (41 bytes, stored aligned to 48), and its 4-byte line
#: pointer. A page gives 24 bytes to its header, so an 8 KB page holds at most 157 polls.
_POLL_BYTES: Final = 52
#: The fewest bytes any heap row takes (a header and a line pointer, no data).
_ROW_BYTES: Final = 28
_PAGE_HEADER_BYTES: Final = 24
EPOCH_US_SQL: Final = (
    "(timestamptz 'epoch' + ({0} / 1000000) * interval '1 second'"
    " + ({0} % 1000000) * interval '1 microsecond')"
)


def name_of(start_us: int) -> str:
    """``polls_wYYYYMMDD`` of the week starting at ``start_us`` (a Monday, epoch us)."""
    days = start_us // 86_400_000_000
    year, month, day = _civil(days)
    return f"{_PREFIX}{year:04d}{month:02d}{day:02d}"


def _civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of ``days`` since 1970-01-01 (proleptic Gregorian; any year)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def weeks_of(us: NDArray[np.int64]) -> set[int]:
    """The week starts (epoch us) of the instants ``us``, each once."""
    if us.size == 0:
        return set()
    index = (us - _MONDAY_US) // WEEK_US
    low, high = int(index.min()), int(index.max())
    if high - low < 100_000:  # usually a week or two: count, do not sort
        present = np.flatnonzero(np.bincount(index - low)) + low
    else:
        present = np.unique(index)
    return {int(week) * WEEK_US + _MONDAY_US for week in present}


def week_partitions(conn: _Conn) -> dict[str, int]:
    """The weekly partitions of ``polls``: name -> row count estimate (``reltuples``)."""
    rows = conn.execute(
        "SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'polls'::regclass"
    ).fetchall()
    return {str(name): int(count) for name, count in rows}


def rows_at_most(conn: _Conn, after_us: int | None = None, until_us: int | None = None) -> int:
    """At most how many rows a read of the polls in ``(after_us, until_us]`` (every poll
    when both are None) plus one row per store can give, whatever the statistics say.

    The bound is the size on disk (``pg_relation_size``) of the partitions that can hold
    such polls, in pages, times the most polls a page can hold, plus the pages of
    ``stores`` times the most rows any page holds: a partition never analyzed, which the
    planner guesses at, is counted like any other. Rows a transaction can see take their
    space on disk, so the bound holds for any snapshot. One catalog query; only the
    partitions chosen are opened (their size read), so a prune's lock on older ones is
    not waited for.
    """
    weeks: list[str] = []
    if after_us is not None and until_us is not None:
        week = week_start_us(after_us)
        while week <= until_us:
            weeks.append(name_of(week))
            week += WEEK_US
    row = conn.execute(
        "SELECT coalesce(sum(pg_relation_size(c.oid)), 0)::bigint,"
        " (SELECT pg_relation_size('stores'::regclass)), current_setting('block_size')::int"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'polls'::regclass AND (%(every)s OR c.relname = ANY(%(weeks)s)"
        " OR c.relname = %(kept)s AND coalesce((SELECT value > %(after)s FROM meta"
        " WHERE key = 'kept_before_us'), true)"
        " OR c.relname <> %(kept)s AND c.relname NOT LIKE %(weekly)s)",
        {
            "every": after_us is None or until_us is None,
            "weeks": weeks,
            "kept": KEPT,
            "after": after_us,
            "weekly": _PREFIX.replace("_", "\\_") + "%",
        },
    ).fetchone()
    polls, stores, page = (int(value or 0) for value in row or (0, 0, 8192))
    room = page - _PAGE_HEADER_BYTES
    return polls // page * (room // _POLL_BYTES) + stores // page * (room // _ROW_BYTES)


def kept_before_us(conn: _Conn) -> int | None:
    """The upper bound of ``polls_kept`` (epoch us), or None before the first prune."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'kept_before_us'").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def create_for(conn: _Conn, weeks: set[int]) -> list[tuple[str, int | None, int]]:
    """Create (inside the caller's transaction) the partitions of ``weeks`` that no
    partition covers yet; every partition the weeks are stored in, as (name, lower bound
    or None for MINVALUE, upper bound), bounds in epoch us. The caller holds the ingest
    lock."""
    existing = week_partitions(conn)
    kept = kept_before_us(conn)
    needed = sorted(
        week for week in weeks if name_of(week) not in existing and (kept is None or week >= kept)
    )
    if len(needed) > MAX_NEW_PARTITIONS:
        raise StoreError(
            f"this ingest holds polls of {len(needed)} weeks that have no partition yet, more "
            f"than the {MAX_NEW_PARTITIONS} one ingest may create (polls are stored in one "
            "partition per UTC week): check the file's timestamps, or ingest it in parts "
            "of fewer weeks",
            public=f"an ingest may add polls of at most {MAX_NEW_PARTITIONS} new weeks",
        )
    for week in needed:
        name = name_of(week)
        low = EPOCH_US_SQL.format(f"{week}::bigint")
        high = EPOCH_US_SQL.format(f"{week + WEEK_US}::bigint")
        conn.execute(
            f"CREATE TABLE {name} (store_code integer NOT NULL,"
            " timestamp_utc timestamptz NOT NULL, active boolean NOT NULL,"
            f" CONSTRAINT {name}_bounds CHECK (timestamp_utc >= {low}"
            f" AND timestamp_utc < {high}))".encode()
        )
        conn.execute(
            f"ALTER TABLE polls ATTACH PARTITION {name}"
            f" FOR VALUES FROM ({low}) TO ({high})".encode()
        )
        # The CHECK let ATTACH skip its validation scan; the bound now says the same.
        conn.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds".encode())
    targets: list[tuple[str, int | None, int]] = [
        (name_of(week), week, week + WEEK_US)
        for week in sorted(weeks)
        if kept is None or week >= kept
    ]
    if kept is not None and any(week < kept for week in weeks):
        targets.insert(0, (KEPT, None, kept))
    return targets


def _start_of(name: str) -> int | None:
    """The week start (epoch us) of a weekly partition's name, None for ``polls_kept``."""
    if not name.startswith(_PREFIX):
        return None
    digits = name.removeprefix(_PREFIX)
    year, month, day = int(digits[:-4]), int(digits[-4:-2]), int(digits[-2:])
    return _days_from_civil(year, month, day) * 86_400_000_000


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (the inverse of ``_civil``)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def prune(conn: _Conn, boundary_us: int, *, dry_run: bool) -> tuple[int, int, int]:
    """Drop the partitions wholly before ``boundary_us`` (a week start), keeping each
    store's last poll before it in ``polls_kept`` (``[MINVALUE, boundary)``), inside the
    caller's transaction (which holds the ingest lock). (removed, kept, partitions)."""
    from storemon.store.retention import prune_step

    names = week_partitions(conn)
    weekly = [
        name
        for name in names
        if (start := _start_of(name)) is not None and start + WEEK_US <= boundary_us
    ]
    if not weekly:
        return 0, 0, 0
    old = sorted(weekly) + ([KEPT] if KEPT in names else [])
    union = " UNION ALL ".join(f"SELECT store_code FROM {name}" for name in old)
    row = conn.execute(f"SELECT count(*), count(DISTINCT store_code) FROM ({union}) o".encode())
    total, kept = (int(value) for value in row.fetchone() or (0, 0))
    if dry_run:
        return total - kept, kept, len(weekly)
    boundary = EPOCH_US_SQL.format(f"{boundary_us}::bigint")
    # Each store's last poll before the boundary: one probe per store, newest partition first.
    conn.execute(
        "CREATE TEMP TABLE _polls_kept ON COMMIT DROP AS"
        " SELECT s.code AS store_code, last.timestamp_utc, last.active FROM stores s"
        " CROSS JOIN LATERAL (SELECT timestamp_utc, active FROM polls"
        f" WHERE store_code = s.code AND timestamp_utc < {boundary}"
        " ORDER BY timestamp_utc DESC LIMIT 1) AS last".encode()
    )
    prune_step("keepers")
    for name in old:
        conn.execute(f"DROP TABLE {name}".encode())
    prune_step("dropped")
    conn.execute(
        f"CREATE TABLE {KEPT} PARTITION OF polls"
        f" FOR VALUES FROM (MINVALUE) TO ({boundary})".encode()
    )
    conn.execute(
        f"INSERT INTO {KEPT} SELECT store_code, timestamp_utc, active FROM _polls_kept"
        " ORDER BY store_code, timestamp_utc".encode()
    )
    conn.execute(
        "INSERT INTO meta VALUES ('kept_before_us', %s)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [boundary_us],
    )
    prune_step("kept")
    return total - kept, kept, len(weekly)
