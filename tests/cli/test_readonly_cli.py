"""Read-only commands never create a database, and a failed report never touches --output."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cli_helpers import run


@pytest.mark.parametrize(
    "argv", [["db"], ["db", "--json"], ["rejects"], ["report"], ["report", "--output", "r.csv"]]
)
def test_a_missing_duckdb_file_is_not_created(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "typo.duckdb"
    code, out, err = run([*argv, "--db", f"duckdb:///{target}"], capsys)
    assert code == 1
    assert out == ""
    assert "does not exist" in err
    assert str(target) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failed_report_leaves_the_output_file_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "report.csv"
    output.write_text("yesterday's report\n")
    code, _, err = run(
        ["report", "--db", f"duckdb:///{tmp_path}/typo.duckdb", "--output", str(output)], capsys
    )
    assert code == 1
    assert "does not exist" in err
    assert output.read_text() == "yesterday's report\n"


@pytest.mark.postgres
def test_a_missing_postgres_database_is_not_created_and_the_output_kept(
    pg_admin_url: str, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    name = f"storemon_missing_{uuid.uuid4().hex[:10]}"
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    output = tmp_path / "report.csv"
    output.write_text("yesterday's report\n")
    for argv in (["db"], ["rejects"], ["report", "--output", str(output)]):
        code, out, err = run([*argv, "--db", url], capsys)
        assert code == 1, argv
        assert out == ""
        assert "does not exist" in err
    assert output.read_text() == "yesterday's report\n"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert found is None
