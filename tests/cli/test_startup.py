"""Start-up: `storemon --help` and argument errors load no heavy module, `serve`'s stack
stays out of the other commands; `--version`, `-h` and `python -m storemon` work."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

import storemon

#: Modules a command line that only parses its arguments must not load.
HEAVY = ("pyarrow", "numpy", "duckdb", "psycopg", "fastapi", "uvicorn", "starlette", "dask")
#: What `storemon serve` alone loads (the web stack and the API).
SERVE_ONLY = ("fastapi", "uvicorn", "starlette", "storemon.api", "dask")

_PROBE = r"""
import sys
argv = sys.argv[1:]
if argv[:1] == ["--import"]:
    import storemon.cli
else:
    from storemon.cli import main
    for command in " ".join(argv).split(" ;; "):  # several commands, one process
        try:
            main(command.split())
        except SystemExit as exit_:
            print("EXIT", exit_.code)
names = {heavy!r}
loaded = sorted(n for n in sys.modules if n.split(".")[0] in names or n.startswith(names))
print("\nLOADED", ",".join(loaded))
"""


def _loaded(argv: list[str], names: tuple[str, ...], cwd: Path | None = None) -> list[str]:
    """The modules among ``names`` that running ``storemon ARGV`` in a fresh process loads
    (``;;`` in ``argv`` separates several commands run one after the other)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=names), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=True,
    )
    output, line = done.stdout.rsplit("\nLOADED ", 1)
    if ";;" in argv:  # each of several commands must have run to its end
        assert output.count("EXIT 0") == argv.count(";;") + 1, output
    return line.strip().split(",") if line.strip() else []


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert _loaded(["--import"], HEAVY) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["-h"],
        ["--version"],
        ["report", "--help"],
        ["ingest", "-h"],
        ["serve", "--help"],
        ["report", "--interpolation", "linear", "--status", "/no/such/file.csv"],
        ["report", "--bogus"],
        ["ingest"],
        ["rejects", "--source", "menus"],
        ["generate", "--days", "0"],
        [],
    ],
    ids=lambda argv: " ".join(argv) or "(no arguments)",
)
def test_help_and_argument_errors_load_no_heavy_module(argv: list[str]) -> None:
    assert _loaded(argv, HEAVY) == []


def test_the_other_commands_do_not_load_what_serve_needs(tmp_path: Path) -> None:
    status = tmp_path / "status.csv"
    status.write_text("store_id,status,timestamp_utc\na,active,2023-01-23 10:00:00 UTC\n")
    url = f"duckdb:///{tmp_path}/x.duckdb"
    commands = [
        f"ingest --db {url} --status {status}",
        f"db --db {url}",
        f"report --db {url}",
        f"report --status {status}",
        f"rejects --db {url}",
    ]
    assert _loaded(" ;; ".join(commands).split(), SERVE_ONLY, cwd=tmp_path) == []


def _storemon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_version_h_and_python_m() -> None:
    version = importlib.metadata.version("storemon")
    assert storemon.__version__ == version
    done = _storemon("-m", "storemon", "--version")
    assert (done.returncode, done.stdout) == (0, f"storemon {version}\n")
    done = _storemon("-m", "storemon", "-h")
    assert done.returncode == 0
    assert "Usage: storemon [OPTIONS] COMMAND" in done.stdout
    assert "Exit codes:" in done.stdout
    done = _storemon("-m", "storemon", "report", "-h")
    assert done.returncode == 0
    assert "--as-of" in done.stdout


def test_import_storemon_is_lazy_and_its_public_names_work() -> None:
    code = (
        "import sys, storemon\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {HEAVY!r} or "
        "n in ('pydantic_settings', 'storemon.config')))\n"
        "print(storemon.compute_report.__module__, storemon.Settings.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded, names = done.stdout.splitlines()
    assert loaded == "[]"
    assert names == "storemon.engine.report Settings"
    assert storemon.__all__ == sorted(storemon.__all__)
    for name in storemon.__all__:
        assert getattr(storemon, name) is not None
    assert set(storemon.__all__) <= set(dir(storemon))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = storemon.nope  # type: ignore[attr-defined]


def test_the_licence_is_the_one_pyproject_names() -> None:
    root = Path(__file__).resolve().parents[2]
    assert 'license = "MIT"' in (root / "pyproject.toml").read_text()
    text = (root / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text
