"""Helpers shared by both stores: URL parsing, redaction, last-row-wins de-duplication."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from storemon.errors import ConfigError
from storemon.store._common import last_per_key, parse_url, redact_url, to_epoch_us


@pytest.mark.parametrize(
    ("url", "backend", "target"),
    [
        ("duckdb:///storemon.duckdb", "duckdb", "storemon.duckdb"),
        ("duckdb:///data/x.duckdb", "duckdb", "data/x.duckdb"),
        ("duckdb:////var/lib/x.duckdb", "duckdb", "/var/lib/x.duckdb"),
        ("duckdb:///:memory:", "duckdb", ":memory:"),
        ("postgresql://u@h:5432/db", "postgres", "postgresql://u@h:5432/db"),
        ("postgres://u@h/db", "postgres", "postgres://u@h/db"),
    ],
)
def test_parse_url(url: str, backend: str, target: str) -> None:
    parsed = parse_url(url)
    assert (parsed.backend, parsed.target) == (backend, target)


def test_parse_url_explains_the_slashes() -> None:
    with pytest.raises(ConfigError, match="three slashes"):
        parse_url("duckdb://x.duckdb")


def test_redact_url() -> None:
    assert redact_url("postgresql://me:s3cr@t@host:5432/db") == "postgresql://me:***@host:5432/db"
    assert redact_url("postgresql://me@host/db") == "postgresql://me@host/db"
    assert redact_url("duckdb:///x.duckdb") == "duckdb:///x.duckdb"


def test_to_epoch_us() -> None:
    assert to_epoch_us(datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == 1
    assert to_epoch_us(datetime(2023, 1, 1)) == 1_672_531_200_000_000


def _reference(rows: list[tuple[object, ...]], width: int) -> list[tuple[object, ...]]:
    last: dict[tuple[object, ...], tuple[object, ...]] = {}
    for row in rows:
        last[row[:width]] = row
    return sorted(last.values(), key=lambda row: row[:width])  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(5))
def test_last_per_key_matches_a_dict_reference(seed: int) -> None:
    rng = random.Random(seed)
    base = datetime(2023, 1, 1, tzinfo=UTC)
    ids = ["a", "b", "B", "ä", "a0", "0042", "42", ""]
    rows = [
        (rng.choice(ids), base + timedelta(seconds=rng.randrange(20)), row)
        for row in range(rng.randrange(0, 300))
    ]
    table = pa.table(
        {
            "store_id": pa.array([r[0] for r in rows], pa.string()),
            "timestamp_utc": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
            "n": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    got = [
        tuple(row.values())
        for row in last_per_key(table, ["store_id", "timestamp_utc"]).to_pylist()
    ]
    expected = sorted(_reference(rows, 2), key=lambda r: (str(r[0]).encode(), r[1]))
    assert got == expected
    by_store = [tuple(row.values()) for row in last_per_key(table, ["store_id"]).to_pylist()]
    assert by_store == sorted(_reference(rows, 1), key=lambda r: str(r[0]).encode())


def test_last_per_key_with_keys_too_wide_to_pack() -> None:
    big = 2**62
    table = pa.table(
        {"k": pa.array([big, -big, big, 0, -big], pa.int64()), "n": pa.array([0, 1, 2, 3, 4])}
    )
    assert last_per_key(table, ["k", "k"]).to_pylist() == [
        {"k": -big, "n": 4},
        {"k": 0, "n": 3},
        {"k": big, "n": 2},
    ]
