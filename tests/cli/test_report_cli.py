"""`storemon report` on CSV files and on a database: output, bad rows, usage errors (exit 2)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from cli_helpers import run

from storemon.cli import main

DATA = Path(__file__).parent.parent / "data" / "engine"
STATUS = DATA / "spec_example_status.csv"
HOURS = DATA / "spec_example_hours.csv"
ZONES = DATA / "spec_example_timezones.csv"
SPEC = ["--status", str(STATUS), "--hours", str(HOURS), "--timezones", str(ZONES)]
AS_OF = ["--as-of", "2023-01-23 17:00:00 UTC"]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run(["report", *args], capsys)


@pytest.mark.parametrize("interpolation", ["nearest", "previous"])
def test_spec_example_to_stdout(interpolation: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run([*SPEC, *AS_OF, "--interpolation", interpolation], capsys)
    assert code == 0
    assert out == (DATA / f"spec_example_{interpolation}.csv").read_text()
    assert err == f"report: 1 store as of 2023-01-23 17:00:00.000000 UTC ({interpolation})\n"


def test_output_file_and_default_as_of(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "report.csv"
    code, out, _ = _run([*SPEC, "--output", str(target)], capsys)
    assert code == 0
    assert out == ""
    # as_of defaults to the latest poll (16:15 UTC = 11:15 New York): 09:00-10:44:30 active,
    # 10:44:30-11:15 inactive; the last hour (10:15-11:15) has 29.5 min up, 30.5 min down;
    # the week also holds 11:15-12:00 of the Monday before (active: before the first poll).
    assert target.read_text().splitlines()[1] == "S,29.50,1.74,2.49,30.50,0.51,0.51"


def test_gzipped_status_and_default_hours_and_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gz = tmp_path / "status.csv.gz"
    gz.write_bytes(gzip.compress(STATUS.read_bytes()))
    code, out, _ = _run(["--status", str(gz), *AS_OF], capsys)
    assert code == 0  # 24x7: active until 15:44:30 UTC, inactive after (1 h 15.5 min)
    assert out.splitlines()[1] == "S,0.00,22.74,166.74,60.00,1.26,1.26"


def test_bad_rows_are_skipped_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = tmp_path / "status.csv"
    lines = [STATUS.read_text().rstrip("\n")]
    lines += [f"T,sleeping,2023-01-23 16:{m:02d}:00 UTC" for m in range(7)]
    lines.append("U,active,not a time")
    status.write_text("\n".join(lines) + "\n")
    code, out, err = _run(["--status", str(status), *AS_OF], capsys)
    assert code == 0
    assert [line.split(",")[0] for line in out.splitlines()] == ["store_id", "S"]
    err_lines = err.splitlines()
    assert err_lines[0] == f"{status}: skipped 8 bad rows of 10"
    assert err_lines[1].startswith(f"{status}:4: ")
    assert "sleeping" in err_lines[1]
    assert len([line for line in err_lines if line.startswith(f"{status}:")]) == 7
    assert f"{status}: ... and 3 more" in err_lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interpolation", "linear"], "'linear' is not one of 'nearest', 'previous'"),
        (["--as-of", "yesterday"], "cannot read timestamp 'yesterday'"),
        (["--as-of", "2023-02-30 00:00"], "not a real date"),
        (["--hours", "/no/such/hours.csv"], "/no/such/hours.csv"),
    ],
)
def test_bad_option_values_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["--status", str(STATUS), *args], capsys)
    assert code == 2
    assert out == ""
    assert message in err


@pytest.mark.parametrize("interpolation", ["nearest", "previous"])
def test_from_the_database_equals_from_the_files(
    interpolation: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb:///{tmp_path}/report.duckdb"
    with pytest.raises(SystemExit) as exit_:
        main(["ingest", "--db", url, *SPEC])
    assert exit_.value.code == 0
    capsys.readouterr()
    code, out, err = _run(["--db", url, *AS_OF, "--interpolation", interpolation], capsys)
    assert code == 0
    assert out == (DATA / f"spec_example_{interpolation}.csv").read_text()
    assert err == f"report: 1 store as of 2023-01-23 17:00:00.000000 UTC ({interpolation})\n"


def test_from_the_database_as_of_defaults_to_the_latest_poll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb:///{tmp_path}/report.duckdb"
    with pytest.raises(SystemExit):
        main(["ingest", "--db", url, *SPEC])
    capsys.readouterr()
    code, out, _ = _run(["--db", url], capsys)
    assert code == 0
    assert out.splitlines()[1] == "S,29.50,1.74,2.49,30.50,0.51,0.51"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hours", str(HOURS)], "--hours and --timezones go with --status"),
        (["--status", str(STATUS), "--db", "duckdb:///x.duckdb"], "not both"),
    ],
)
def test_files_and_database_do_not_mix(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(args, capsys)
    assert code == 2
    assert out == ""
    assert message in err


def test_missing_column_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = tmp_path / "status.csv"
    status.write_text("store_id,timestamp_utc\nS,2023-01-23 16:15:00 UTC\n")
    code, out, err = _run(["--status", str(status)], capsys)
    assert code == 1
    assert out == ""
    assert "status" in err


def test_as_of_before_every_poll_gives_a_header_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run([*SPEC, "--as-of", "2020-01-01 00:00"], capsys)
    assert code == 0
    assert out.startswith("store_id,uptime_last_hour,")
    assert len(out.splitlines()) == 1
    assert "no polls at or before as_of" in err


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo data for one store in ten, polled for 9 days, plus stores with no settings."""
    bundled = Path(__file__).parent.parent.parent / "src" / "storemon" / "data"
    folder = tmp_path_factory.mktemp("demo")
    files = {}
    for source, name in (("hours", "menu_hours.csv.gz"), ("timezones", "timezones.csv.gz")):
        lines = gzip.decompress((bundled / name).read_bytes()).decode().splitlines()
        kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[0].endswith("7")]
        files[source] = folder / f"{source}.csv"
        files[source].write_text("\n".join(kept) + "\n")
    files["status"] = folder / "status.csv"
    argv = ["generate", "--hours", str(files["hours"]), "--timezones", str(files["timezones"])]
    argv += ["--stores", "25", "--days", "9", "--end", "2023-01-25 18:13 UTC", "--seed", "5"]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--output", str(files["status"])])
    assert exit_.value.code == 0
    return files


def test_demo_data_from_the_database_is_byte_identical_to_from_the_files(
    store_url: str, demo_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files = [f"--{source}={path}" for source, path in demo_files.items()]
    code, _, _ = run(["ingest", "--db", store_url, *files], capsys)
    assert code == 0
    cases = [[], ["--as-of", "2023-01-20 06:30:00 UTC"], ["--interpolation", "previous"]]
    for args in cases:
        from_db = _run(["--db", store_url, *args], capsys)
        from_files = _run([*files, *args], capsys)
        assert from_db[0] == from_files[0] == 0
        assert from_db[1] == from_files[1], args
        assert from_db[2] == from_files[2], args
        assert from_db[1].count("\n") > 1_000


def test_a_failed_write_keeps_the_previous_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV goes to a temporary file beside the target, renamed over it when complete:
    a write that fails (disk full, killed) leaves the previous report whole, and no
    temporary file behind."""
    target = tmp_path / "report.csv"
    target.write_text("the previous report\n")
    target.chmod(0o640)

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr("storemon.cli._files.os.replace", full_disk)
        code, _, err = _run([*SPEC, "--output", str(target)], capsys)
    assert code == 2
    assert f"cannot write {target}: No space left on device" in err
    assert target.read_text() == "the previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]
    code, _, _ = _run([*SPEC, *AS_OF, "--output", str(target)], capsys)
    assert code == 0
    assert target.read_text() == (DATA / "spec_example_nearest.csv").read_text()
    assert target.stat().st_mode & 0o777 == 0o640  # the file's permissions are kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


def test_output_through_a_symlink_and_to_a_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    code, _, _ = _run([*SPEC, *AS_OF, "--output", str(link)], capsys)
    assert code == 0
    assert link.is_symlink()  # the link still points at the file it named
    assert real.read_text() == (DATA / "spec_example_nearest.csv").read_text()
    code, out, _ = _run([*SPEC, "--output", "/dev/null"], capsys)  # written in place
    assert (code, out) == (0, "")
