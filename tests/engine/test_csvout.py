"""CSV text: spreadsheet-safe store ids (OWASP CSV injection) that a program can undo exactly."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from engine_cases import polls_table
from reference import Poll

from storemon import schema
from storemon.engine import compute_report, report_csv

HOSTILE = [
    "=1+1",
    "+cmd|' /C calc'!A0",
    "@SUM(1,2)",
    "-2+3",
    '"=HYPERLINK(""http://x"",""y"")"',
    '=HYPERLINK("http://x")',
    "\t=1+1",
    "'quoted",
    "''",
    "plain-7",
    "a,b",
]


def _undo(field: str) -> str:
    """What the documentation tells a program to do: drop one leading apostrophe."""
    return field[1:] if field.startswith("'") else field


def test_no_field_starts_like_a_formula_and_programs_get_the_ids_back() -> None:
    at = datetime(2023, 1, 23, 12, tzinfo=UTC)
    polls = polls_table([Poll(i, at, True) for i in HOSTILE])
    empty = [schema.empty(schema.HOURS), schema.empty(schema.TIMEZONES)]
    text = report_csv(compute_report(polls, *empty).table).decode()
    rows = list(csv.reader(io.StringIO(text)))[1:]
    for row in rows:
        assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r")), row[0]
    assert sorted(_undo(row[0]) for row in rows) == sorted(HOSTILE)
    raw_first = [line.split(",")[0] for line in text.splitlines()[1:]]
    assert '"\'=1+1"' in raw_first  # quoted as well as escaped (OWASP)


@pytest.mark.parametrize("store_id", ["12345", "store-7a", "Z", "é"])
def test_ordinary_ids_are_written_as_they_are(store_id: str) -> None:
    at = datetime(2023, 1, 23, 12, tzinfo=UTC)
    polls = polls_table([Poll(store_id, at, True)])
    empty = [schema.empty(schema.HOURS), schema.empty(schema.TIMEZONES)]
    text = report_csv(compute_report(polls, *empty).table).decode()
    assert text.splitlines()[1].split(",")[0] == store_id
