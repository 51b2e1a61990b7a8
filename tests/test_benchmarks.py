"""The benchmark scripts still run: each answers --help, and the growth benchmark runs
end to end on a few hundred polls (it drives the real CLI, so it breaks when the CLI does)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The scripts; a module whose name starts with "_" is a helper they import.
BENCHMARKS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))
DATA = ROOT / "tests" / "data" / "ingest"


def _run(script: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python SCRIPT ARGS`` in ``cwd``; fails the test unless it exits 0."""
    argv = [sys.executable, str(script), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_answers_help(script: Path) -> None:
    done = _run(script, "--help")
    assert "usage:" in done.stdout


def test_growth_benchmark_runs_on_a_small_set(tmp_path: Path) -> None:
    done = _run(
        ROOT / "benchmarks" / "bench_growth.py",
        "--status",
        str(DATA / "store_status_head.csv"),
        "--hours",
        str(DATA / "menu_hours_head.csv"),
        "--timezones",
        str(DATA / "timezones_head.csv"),
        "--scales",
        "1,2",
        "--repeat",
        "1",
        "--backends",
        "duckdb",
        cwd=tmp_path,
    )
    lines = done.stdout.splitlines()
    polls = len((DATA / "store_status_head.csv").read_text().splitlines()) - 1
    for path in ("report from CSV files", "report --db, duckdb"):
        rows = [re.match(rf"{re.escape(path)}\s+(\d+)x\s+([\d,]+)\s", line) for line in lines]
        found = [(m.group(1), m.group(2)) for m in rows if m]
        assert found == [("1", f"{polls:,}"), ("2", f"{2 * polls:,}")], lines


def test_path_benchmark_runs_on_a_small_set(tmp_path: Path) -> None:
    done = _run(
        ROOT / "benchmarks" / "bench_path.py",
        "--status",
        str(DATA / "store_status_head.csv"),
        "--hours",
        str(DATA / "menu_hours_head.csv"),
        "--timezones",
        str(DATA / "timezones_head.csv"),
        "--scales",
        "1,2",
        "--repeat",
        "1",
        cwd=tmp_path,
    )
    out = done.stdout
    assert re.search(r"CPU ratio \d+\.\d\d", out), out
    assert re.search(r"wall ratio \d+\.\d\d", out), out
    polls = len((DATA / "store_status_head.csv").read_text().splitlines()) - 1
    for scale in (1, 2):
        for command in ("report", "ingest"):
            assert f"{scale}x ({scale * polls:,} polls) {command}: " in out, out


def test_store_benchmark_runs_on_a_small_set(tmp_path: Path) -> None:
    done = _run(
        ROOT / "benchmarks" / "bench_store.py",
        "--status",
        str(DATA / "store_status_head.csv"),
        "--backends",
        "duckdb",
        "--repeat",
        "1",
        "--history",
        "2",
        cwd=tmp_path,
    )
    assert done.stdout.count('"report_inputs_best_s"') == 2, done.stdout
    assert '"exit": 0' in done.stdout


def test_insight_benchmark_runs_on_a_small_set(tmp_path: Path) -> None:
    done = _run(
        ROOT / "benchmarks" / "bench_insight.py",
        "--status",
        str(DATA / "store_status_head.csv"),
        "--hours",
        str(DATA / "menu_hours_head.csv"),
        "--timezones",
        str(DATA / "timezones_head.csv"),
        "--repeat",
        "1",
        "--requests",
        "5",
        cwd=tmp_path,
    )
    assert '"report --extended"' in done.stdout, done.stdout
    assert '"/stores/{id}/timeline"' in done.stdout


def test_load_benchmark_mixed_profile_runs_on_a_small_set(tmp_path: Path) -> None:
    import gzip
    import json
    import shutil

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DATA / "menu_hours_head.csv", data / "menu_hours.csv")
    shutil.copy(DATA / "timezones_head.csv", data / "timezones.csv")
    (data / "store_status.csv.gz").write_bytes(
        gzip.compress((DATA / "store_status_head.csv").read_bytes())
    )
    out = tmp_path / "mixed.json"
    _run(
        ROOT / "benchmarks" / "load.py",
        "--profile",
        "mixed",
        "--data-dir",
        str(data),
        "--seconds",
        "3",
        "--pollers",
        "4",
        "--client-processes",
        "2",
        "--batch-polls",
        "50",
        "--ingest-every",
        "1",
        "--json",
        str(out),
        cwd=tmp_path,
    )
    result = json.loads(out.read_text())
    assert result["get_report"]["n"] > 10
    assert result["trigger_report"]["n"] >= 2
    assert result["ingest_status"]["n"] >= 2
    assert result["errors"] == {}
    assert result["server"]["rss_mb"]["max"] > 0


def test_scale_benchmark_runs_on_a_small_set(tmp_path: Path) -> None:
    done = _run(
        ROOT / "benchmarks" / "bench_scale.py",
        "--status",
        str(DATA / "store_status_head.csv"),
        "--hours",
        str(DATA / "menu_hours_head.csv"),
        "--timezones",
        str(DATA / "timezones_head.csv"),
        "--scales",
        "2",
        "--workers",
        "1",
        "--backends",
        "duckdb",
        cwd=tmp_path,
    )
    rows = [line for line in done.stdout.splitlines() if line.startswith("| duckdb | 2× |")]
    assert len(rows) == 2, done.stdout  # printed as measured, then in the table
    assert rows[0].endswith("| yes |"), rows[0]
