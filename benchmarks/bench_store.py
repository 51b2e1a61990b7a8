"""Benchmark the database layer on the benchmark poll set, on DuckDB and PostgreSQL.

    .venv/bin/python benchmarks/bench_store.py [--status ../shared/data/store_status.csv.gz]
        [--backends duckdb,postgres] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

For each backend, on a fresh database:

1. the real command, each run a fresh process (wall time, peak memory):
   `storemon ingest` of the polls (unpacked), hours and timezones; the same again
   (every poll a duplicate: must be no slower); `storemon report --db` when the
   report command can read a database;
2. in one process: parsing, `apply_ingest` first and again, an hourly batch (the
   last hour of polls moved one hour later: all new), and `report_inputs` (best
   and median of --repeat).

3. with --history WEEKS (in one process, a fresh database): the poll set loaded
   WEEKS times, each copy 8 days earlier than the next (oldest first, as data
   accumulates), then `report_inputs` (best and median of --repeat): with a longer
   history the read should stay about as fast (it reads one week).

Targets (2 cores): ingest DuckDB < 4 s, PostgreSQL < 20 s, re-ingest no slower,
memory < 1 GB; report_inputs DuckDB well under 0.5 s, PostgreSQL < 2 s.
Hours and timezones: --hours / --timezones, else the files beside --status, else
the bundled demo data.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATUS = ROOT.parent / "shared" / "data" / "store_status.csv.gz"
DEFAULT_PG = os.environ.get("STOREMON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
COMMAND = [sys.executable, "-c", "from storemon.cli import main; main()"]


def _run(argv: list[str]) -> dict[str, object]:
    """Run a storemon command in a fresh process: wall seconds, peak MB, exit code."""
    started = time.perf_counter()
    process = subprocess.Popen([*COMMAND, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    process.stderr and process.stderr.close()
    return {
        "seconds": round(seconds, 3),
        "peak_mb": round(usage.ru_maxrss / 1024),
        "exit": process.returncode,
        **({"stderr": error.strip()[-300:]} if process.returncode else {}),
    }


def _time_report_inputs(store: Any, repeat: int) -> tuple[list[float], Any]:
    """Seconds of ``repeat`` calls of ``store.report_inputs(None)``, and the last result."""
    reads = []
    for _ in range(repeat):
        started = time.perf_counter()
        inputs = store.report_inputs(None)
        reads.append(time.perf_counter() - started)
    return reads, inputs


def run_in_process(url: str, files: dict[str, str], repeat: int) -> dict[str, object]:
    """Parse, apply twice and read the report inputs in this process."""
    import resource

    from storemon.ingest.csv import read_source
    from storemon.store import IngestBatch, open_store

    started = time.perf_counter()
    parsed = {source: read_source(source, path) for source, path in files.items()}  # type: ignore[arg-type]
    parse_s = time.perf_counter() - started
    batch = IngestBatch(
        polls=parsed["status"].table,
        hours=parsed["hours"].table,
        timezones=parsed["timezones"].table,
        files={source: part.file for source, part in parsed.items()},  # type: ignore[misc]
    )
    store = open_store(url)
    try:
        applies = []
        for _ in range(2):
            started = time.perf_counter()
            store.apply_ingest(batch)
            applies.append(time.perf_counter() - started)
        # An hourly batch: the last hour of polls, one hour later (all new polls).
        import pyarrow as pa
        import pyarrow.compute as pc

        polls = parsed["status"].table
        stamps = polls.column("timestamp_utc")
        latest = pc.max(stamps).as_py()
        recent = polls.filter(
            pc.greater(stamps, pa.scalar(latest - timedelta(hours=1), stamps.type))
        )
        shifted = pc.add(recent.column("timestamp_utc"), pa.scalar(timedelta(hours=1)))
        hourly = IngestBatch(polls=recent.set_column(1, "timestamp_utc", shifted))
        started = time.perf_counter()
        store.apply_ingest(hourly)
        hourly_s = time.perf_counter() - started
        reads, inputs = _time_report_inputs(store, repeat)
        counts = store.counts()
    finally:
        store.close()
    return {
        "parse_s": round(parse_s, 3),
        "apply_first_s": round(applies[0], 3),
        "apply_again_s": round(applies[1], 3),
        "apply_hourly_s": round(hourly_s, 3),
        "hourly_polls": recent.num_rows,
        "report_inputs_best_s": round(min(reads), 3),
        "report_inputs_median_s": round(statistics.median(reads), 3),
        "report_inputs_polls": inputs.polls.num_rows,
        "counts": counts,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run_history(url: str, files: dict[str, str], weeks: int, repeat: int) -> dict[str, object]:
    """Load the polls ``weeks`` times, 8 days apart (oldest first); time report_inputs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from storemon.ingest.csv import read_source
    from storemon.store import IngestBatch, open_store

    polls = read_source("status", files["status"]).table
    stamps = polls.column("timestamp_utc")
    store = open_store(url)
    try:
        applies = []
        for week in reversed(range(weeks)):
            shifted = pc.subtract(stamps, pa.scalar(timedelta(days=8 * week)))
            started = time.perf_counter()
            store.apply_ingest(IngestBatch(polls=polls.set_column(1, "timestamp_utc", shifted)))
            applies.append(round(time.perf_counter() - started, 3))
        reads, inputs = _time_report_inputs(store, repeat)
        counts = store.counts()
    finally:
        store.close()
    return {
        "weeks": weeks,
        "apply_s": applies,
        "report_inputs_best_s": round(min(reads), 3),
        "report_inputs_median_s": round(statistics.median(reads), 3),
        "report_inputs_polls": inputs.polls.num_rows,
        "polls": counts["polls"],
    }


class _Database:
    """A fresh database URL for one backend, removed afterwards."""

    def __init__(self, backend: str, scratch: Path, pg_admin: str) -> None:
        self.backend = backend
        self.pg_admin = pg_admin
        self.name = f"storemon_bench_{uuid.uuid4().hex[:10]}"
        if backend == "duckdb":
            self.url = f"duckdb:///{scratch / (self.name + '.duckdb')}"
        else:
            import psycopg

            with psycopg.connect(pg_admin, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.name}"')  # type: ignore[arg-type]
            self.url = pg_admin.rsplit("/", 1)[0] + "/" + self.name

    def drop(self) -> None:
        if self.backend == "postgres":
            import psycopg

            with psycopg.connect(self.pg_admin, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')  # type: ignore[arg-type]


def _in_fresh_database(
    backend: str, scratch: Path, pg_admin: str, argv: list[str]
) -> dict[str, object]:
    """Run this script with ``argv`` (plus the URL of a fresh database); its JSON output."""
    database = _Database(backend, scratch, pg_admin)
    try:
        output = subprocess.run(
            [sys.executable, __file__, *argv[:1], database.url, *argv[1:]],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        database.drop()
    loaded: dict[str, object] = json.loads(output)
    return loaded


def bench_backend(
    backend: str, files: dict[str, str], scratch: Path, pg_admin: str, repeat: int, history: int
) -> dict[str, object]:
    # Other work on the machine skews the figures: record the load around the runs.
    result: dict[str, object] = {"backend": backend, "load_before": os.getloadavg()[0]}
    database = _Database(backend, scratch, pg_admin)
    try:
        ingest = ["ingest", "--db", database.url, "--json"]
        for source, path in files.items():
            ingest += [f"--{source}", path]
        result["cli_ingest_first"] = _run(ingest)
        result["cli_ingest_again"] = _run(ingest)
        report = _run(["report", "--db", database.url, "--output", os.devnull])
        result["cli_report_db"] = report if report["exit"] == 0 else "not available"
    finally:
        database.drop()
    common = [json.dumps(files), "--repeat", str(repeat)]
    result["in_process"] = _in_fresh_database(backend, scratch, pg_admin, ["--in-process", *common])
    if history:
        result["history"] = _in_fresh_database(
            backend, scratch, pg_admin, ["--in-process-history", *common, "--history", str(history)]
        )
    result["load_after"] = os.getloadavg()[0]
    return result


def _first(*paths: Path) -> Path:
    for path in paths:
        if path.is_file():
            return path
    sys.exit(f"not found: {' or '.join(map(str, paths))}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--status", type=Path, default=DEFAULT_STATUS, help="poll CSV (.gz ok)")
    parser.add_argument("--hours", type=Path, help="business hours CSV [default: beside --status]")
    parser.add_argument("--timezones", type=Path, help="timezones CSV [default: beside --status]")
    parser.add_argument("--backends", default="duckdb,postgres")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL admin URL")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--history", type=int, default=0, metavar="WEEKS", help="also time a longer history"
    )
    parser.add_argument("--in-process", nargs=2, metavar=("URL", "FILES"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--in-process-history", nargs=2, metavar=("URL", "FILES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.in_process:
        url, files = args.in_process
        print(json.dumps(run_in_process(url, json.loads(files), args.repeat)))
        return
    if args.in_process_history:
        url, files = args.in_process_history
        print(json.dumps(run_history(url, json.loads(files), args.history, args.repeat)))
        return
    if not args.status.is_file():
        sys.exit(f"benchmark data not found: {args.status} (pass --status)")
    shared = args.status.resolve().parent
    bundled = ROOT / "src" / "storemon" / "data"
    hours = args.hours or _first(shared / "menu_hours.csv", bundled / "menu_hours.csv.gz")
    zones = args.timezones or _first(shared / "timezones.csv", bundled / "timezones.csv.gz")
    with tempfile.TemporaryDirectory(prefix="storemon-bench-store-") as scratch_dir:
        scratch = Path(scratch_dir)
        status = args.status
        if status.name.endswith(".gz"):
            status = scratch / status.name.removesuffix(".gz")
            with gzip.open(args.status, "rb") as packed, status.open("wb") as plain:
                shutil.copyfileobj(packed, plain, 1 << 20)
        files = {"status": str(status), "hours": str(hours), "timezones": str(zones)}
        for backend in args.backends.split(","):
            result = bench_backend(
                backend.strip(), files, scratch, args.pg, args.repeat, args.history
            )
            print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
