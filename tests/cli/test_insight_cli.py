"""`storemon report` with Part 2 options, `storemon outages` and `storemon profile`, on CSV
files and on both databases: the engine's CSV, warnings on stderr, usage errors exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run

from storemon.engine.options import report_options
from storemon.ingest import parse_instant, read_source
from storemon.jobs.outputs import JobSpec, compute_output

DATA = Path(__file__).parent.parent / "data" / "engine"
FILES = [
    "--status",
    str(DATA / "part2_status.csv"),
    "--hours",
    str(DATA / "part2_hours.csv"),
    "--timezones",
    str(DATA / "part2_timezones.csv"),
]
AS_OF = ["--as-of", "2023-11-06 12:00:00 UTC"]


def test_extended_report_of_files_is_the_golden_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["report", *FILES, *AS_OF, "--extended"], capsys)
    assert code == 0, err
    assert out == (DATA / "part2_report_extended.csv").read_text()
    _, out, _ = run(["report", *FILES, *AS_OF, "--extended", "--unobserved", "exclude"], capsys)
    assert out == (DATA / "part2_report_exclude.csv").read_text()
    _, out, _ = run(["report", *FILES, *AS_OF, "--windows", "2h,30d"], capsys)
    assert (
        out.splitlines()[0]
        == "store_id,uptime_last_2h,uptime_last_30d,downtime_last_2h,downtime_last_30d"
    )


def test_outages_and_profile_of_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["outages", *FILES, *AS_OF], capsys)
    assert code == 0, err
    assert out == (DATA / "part2_outages.csv").read_text()
    assert "outages: 2 in the last 168h of every store" in err
    _, out, _ = run(["outages", *FILES, *AS_OF, "--store", "G", "--window", "24h"], capsys)
    assert out.splitlines()[1:] == ["G,2023-11-06T01:00:00Z,2023-11-06T03:37:30Z,157.50,false"]
    code, out, err = run(["profile", *FILES, *AS_OF], capsys)
    assert code == 0, err
    rows = out.splitlines()
    assert len(rows) == 169
    assert rows[6 * 24 + 1 + 1] == "6,1,1,2.00,1.25,0.75"  # the repeated hour of the DST night


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["report", "--windows", "0h"], "is empty"),
        (["report", "--windows", "5x"], "'5x' is not understood"),
        (["report", "--windows", "400d"], "longest allowed, 366 days"),
        (["report", "--observed-within", "0"], "observed_within must be a positive number"),
        (["report", "--unobserved", "skip"], "use 'extrapolate'"),
        (["outages", "--window", "5x"], "'5x' is not understood"),
        (["profile", "--window", "0m"], "is empty"),
        (["outages", "--store", "nope"], "no store 'nope' with a poll at or before as_of"),
        (["outages", "--store", "g"], "'0042' and '42' differ"),
    ],
)
def test_usage_errors_say_what_to_write(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*argv, *FILES, *AS_OF], capsys)
    assert code == 2
    assert out == ""
    assert says in " ".join(err.split())


def test_warnings_reach_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["report", *FILES, "--as-of", "2024-01-01 00:00"], capsys)
    assert code == 0
    assert "warning: as_of 2024-01-01 00:00:00 UTC is" in err
    assert "warning: 1 of 1 stores have no poll within 60 minutes" in err


def test_the_databases_give_what_the_files_give(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest = ["ingest", "--db", store_url, *FILES]
    assert run(ingest, capsys)[0] == 0
    for argv in (
        ["report", "--extended", "--windows", "1h,24h,168h,30d"],
        ["outages"],
        ["outages", "--store", "G"],
        ["profile", "--window", "24h"],
    ):
        _, from_files, _ = run([*argv, *FILES, *AS_OF], capsys)
        code, from_db, err = run([*argv, "--db", store_url, *AS_OF], capsys)
        assert code == 0, err
        assert from_db == from_files, argv
    code, _, err = run(["outages", "--db", store_url, "--store", "nope"], capsys)
    assert code == 2
    assert "no store 'nope'" in " ".join(err.split())


def test_the_cli_computes_what_a_job_computes(capsys: pytest.CaptureFixture[str]) -> None:
    polls, hours, zones = (
        read_source(source, DATA / f"part2_{source}.csv").table
        for source in ("status", "hours", "timezones")
    )
    spec = JobSpec(options=report_options(windows="30m,36h", extended=True))
    done = compute_output(
        polls, hours, zones, spec=spec, as_of=parse_instant(AS_OF[1]), interpolation="previous"
    )
    code, out, err = run(
        [
            "report",
            *FILES,
            *AS_OF,
            "--windows",
            "30m,36h",
            "--extended",
            "--interpolation",
            "previous",
        ],
        capsys,
    )
    assert code == 0, err
    assert out.encode() == done.csv
