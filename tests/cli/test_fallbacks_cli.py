"""Stores left on default settings because all their rows were rejected are said out loud:
in the report's warnings (files and database), the job JSON, and `storemon rejects`
(issue 14 item 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run

STATUS = "store_id,status,timestamp_utc\n" + "".join(
    f"{store},active,2023-01-23 10:00\n" for store in "ABCD"
)
# A: every hours row bad (open 24x7); B: one bad, one good (keeps its hours); D: no rows.
HOURS = (
    "store_id,day,start_time_local,end_time_local\n"
    "A,9,09:00,17:00\nA,0,25:00,17:00\nB,0,09:00,17:00\nB,8,09:00,17:00\n"
)
# C: its zone is unknown (America/Chicago); A: a good zone.
ZONES = "store_id,timezone_str\nC,Mars/Olympus\nA,Europe/Paris\n"


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    paths = []
    for name, text in (("status", STATUS), ("hours", HOURS), ("timezones", ZONES)):
        path = tmp_path / f"{name}.csv"
        path.write_text(text)
        paths += [f"--{name}", str(path)]
    return paths


def test_the_report_of_files_names_them(
    files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["report", *files], capsys)
    assert code == 0, err
    assert (
        "warning: 1 store is open 24x7 because all its business-hours rows were rejected: A "
        "(storemon rejects --source hours)" in err
    )
    assert (
        "warning: 1 store uses America/Chicago because all its timezone rows were rejected: C"
        in err
    )


def test_the_database_names_them_too(
    store_url: str, files: list[str], capsys: pytest.CaptureFixture[str], store: Any
) -> None:
    assert run(["ingest", "--db", store_url, *files], capsys)[0] == 0
    fallbacks = store.settings_fallbacks()
    assert (fallbacks.open_all_week, fallbacks.open_all_week_count) == (["A"], 1)
    assert (fallbacks.default_zone, fallbacks.default_zone_count) == (["C"], 1)
    code, _, err = run(["report", "--db", store_url], capsys)
    assert code == 0
    assert "1 store is open 24x7 because all its business-hours rows were rejected: A" in err
    code, out, _ = run(["rejects", "--db", store_url], capsys)
    assert out.splitlines()[0].startswith("1 store is open 24x7")
    assert out.splitlines()[1].startswith("1 store uses America/Chicago")
    code, out, _ = run(["rejects", "--db", store_url, "--source", "timezones", "--json"], capsys)
    listed = json.loads(out)
    assert [w["code"] for w in listed["fallbacks"]] == ["timezone_rejected"]
    assert listed["fallbacks"][0]["store_ids"] == ["C"]
    # A later file with a good row for A: A keeps its hours, no longer a fallback.
    good = Path(files[3]).with_name("more_hours.csv")
    good.write_text("store_id,day,start_time_local,end_time_local\nA,0,09:00,17:00\n")
    assert run(["ingest", "--db", store_url, "--hours", str(good)], capsys)[0] == 0
    assert store.settings_fallbacks().open_all_week_count == 0
