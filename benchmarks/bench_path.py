"""The whole path, each figure as a ratio to its floor measured in the same run.

    .venv/bin/python benchmarks/bench_path.py [--status ../shared/data/store_status.csv.gz]
        [--hours F] [--timezones F] [--scales 1] [--repeat 5] [--skip startup,csv,memory]

Every command runs in a fresh process, the command and its floor taken in turn (A B A
B ...), so a busy machine slows both alike; medians are printed, and the ratio of the
medians is the figure to quote (issue "Performance of the whole path"):

1. **start-up**: ``storemon --help`` against ``python -c "import numpy"`` (any command
   that computes loads numpy): CPU seconds (user + system) and wall. Target: CPU ≤ the
   floor's, under 0.15 s wall on a quiet machine.
2. **CSV report**: ``storemon report --status --hours --timezones --output /dev/null``
   on the benchmark files against DuckDB's own load of the status file alone (``CREATE
   TABLE polls AS SELECT * FROM read_csv(...)`` in a fresh ``python -c``, import
   included). Target at 1x: ≤ 1.2x.
3. **memory**, at each of ``--scales`` (the benchmark set copied N times, as
   ``bench_growth.py`` writes it; 54x is about 100 M polls and 6.7 GB of CSV): peak RSS
   of ``storemon report --status`` (the CSV report) and of ``storemon ingest`` into a
   fresh DuckDB file, per million polls above the constant of the same command on a
   one-poll file. Target: ≤ 100 MB per million polls plus a constant; the 10x CSV
   report under 2 GB. One run each (``--repeat`` is for sections 1 and 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_growth import write_in_child

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATUS = ROOT.parent / "shared" / "data" / "store_status.csv.gz"
STOREMON = [sys.executable, "-c", "from storemon.cli import main; main()"]


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_mb: float


def run(argv: list[str]) -> Run:
    """One process: wall seconds, its CPU seconds and peak RSS (``wait4``)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=err, cwd=tempfile.gettempdir()
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{argv[3:]} failed: {err.read().decode(errors='replace')[-600:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def in_turn(a: list[str], b: list[str], repeat: int) -> tuple[list[Run], list[Run]]:
    """``a`` and ``b`` each ``repeat`` times, alternating (after one warm-up of each)."""
    run(a), run(b)
    runs: tuple[list[Run], list[Run]] = ([], [])
    for _ in range(repeat):
        runs[0].append(run(a))
        runs[1].append(run(b))
    return runs


def median(runs: list[Run], what: str) -> float:
    return statistics.median(getattr(r, what) for r in runs)


def startup(repeat: int) -> None:
    ours, floor = in_turn([*STOREMON, "--help"], [sys.executable, "-c", "import numpy"], repeat)
    print(f"start-up, medians of {repeat} runs each, in turn:")
    for name, runs in (("storemon --help", ours), ('python -c "import numpy"', floor)):
        print(
            f"  {name:26} CPU {median(runs, 'cpu'):.3f} s, wall {median(runs, 'wall'):.3f} s, "
            f"peak {median(runs, 'peak_mb'):.0f} MB"
        )
    ratio = median(ours, "cpu") / median(floor, "cpu")
    print(f"  CPU ratio {ratio:.2f} (target <= 1); wall {median(ours, 'wall'):.3f} s (< 0.15 s)")


def csv_report(files: dict[str, Path], repeat: int) -> None:
    sources = [arg for source, path in files.items() for arg in (f"--{source}", str(path))]
    ours = [*STOREMON, "report", "--output", os.devnull, *sources]
    load = (
        "import duckdb; duckdb.connect().execute("
        f"\"CREATE TABLE polls AS SELECT * FROM read_csv('{files['status']}')\")"
    )
    report, floor = in_turn(ours, [sys.executable, "-c", load], repeat)
    print(f"CSV report on {files['status'].name}, medians of {repeat} runs each, in turn:")
    for name, runs in (("storemon report --status", report), ("DuckDB read_csv", floor)):
        print(
            f"  {name:26} wall {median(runs, 'wall'):.3f} s, CPU {median(runs, 'cpu'):.3f} s,"
            f" peak {median(runs, 'peak_mb'):.0f} MB"
        )
    ratio = median(report, "wall") / median(floor, "wall")
    print(f"  wall ratio {ratio:.2f} (target <= 1.2)")


def memory(files: dict[str, Path], scales: list[int], scratch: Path, commands: set[str]) -> None:
    tiny = scratch / "one-poll.csv"
    tiny.write_text("store_id,status,timestamp_utc\ns1,active,2023-01-25 10:00:00 UTC\n")
    base = {
        "report": run([*STOREMON, "report", "--status", str(tiny), "--output", os.devnull]),
        "ingest": _ingest({"status": tiny}, scratch),
    }
    print(
        "memory: peak RSS; per million polls above the one-poll constant "
        f"(report {base['report'].peak_mb:.0f} MB, ingest {base['ingest'].peak_mb:.0f} MB):"
    )
    for scale in scales:
        folder = scratch / f"x{scale}"
        folder.mkdir()
        scaled, polls = write_in_child(files, scale, folder)
        paths = {source: Path(path) for source, path in scaled.items()}
        sources = [arg for source, path in paths.items() for arg in (f"--{source}", str(path))]
        measured = {}
        if "report" in commands:
            measured["report"] = run([*STOREMON, "report", "--output", os.devnull, *sources])
        if "ingest" in commands:
            measured["ingest"] = _ingest(paths, scratch)
        for name, got in measured.items():
            per = (got.peak_mb - base[name].peak_mb) / (polls / 1e6)
            print(
                f"  {scale:>3}x ({polls:,} polls) {name}: {got.peak_mb:,.0f} MB peak, "
                f"{per:.1f} MB per million polls above the constant, {got.wall:.1f} s"
            )
        for path in paths.values():
            path.unlink()


def _ingest(files: dict[str, Path], scratch: Path) -> Run:
    database = scratch / "path.duckdb"
    sources = [arg for source, path in files.items() for arg in (f"--{source}", str(path))]
    try:
        return run([*STOREMON, "ingest", "--db", f"duckdb:///{database}", *sources])
    finally:
        database.unlink(missing_ok=True)
        Path(f"{database}.wal").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--status", type=Path, default=DEFAULT_STATUS, help="benchmark polls")
    parser.add_argument("--hours", type=Path, help="default: menu_hours.csv beside --status")
    parser.add_argument("--timezones", type=Path, help="default: timezones.csv beside --status")
    parser.add_argument("--scales", default="1", help="comma-separated copies, e.g. 1,10,54")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each timed command")
    parser.add_argument(
        "--memory-of", default="report,ingest", help="commands of section 3: report,ingest"
    )
    parser.add_argument("--skip", default="", help="sections to skip: startup,csv,memory")
    args = parser.parse_args()
    files = {
        "status": args.status,
        "hours": args.hours or args.status.parent / "menu_hours.csv",
        "timezones": args.timezones or args.status.parent / "timezones.csv",
    }
    skip = set(args.skip.split(","))
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="storemon-path-") as folder:
        scratch = Path(folder)
        if "startup" not in skip:
            startup(args.repeat)
        if "csv" not in skip:
            csv_report(files, args.repeat)
        if "memory" not in skip:
            scales = [int(s) for s in args.scales.split(",")]
            memory(files, scales, scratch, set(args.memory_of.split(",")))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
