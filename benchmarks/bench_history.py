"""A report's time on 1 week against 4 weeks of stored history, both backends.

    .venv/bin/python benchmarks/bench_history.py [--status ../shared/data/store_status.csv.gz]
        [--weeks 4] [--backends duckdb,postgres] [--repeat 5] [--pg ADMIN_URL]

For each backend, two fresh databases: "one" holds the benchmark set (hours, timezones,
one week of polls); "many" holds the same plus the poll set ``--weeks - 1`` times more,
shifted back by 1, 2, 3 … whole weeks (only the rows before the set's first poll, so the
reported week is the same), ingested oldest first, as history accumulates. Then

1. ``storemon report --db URL --output /dev/null`` on one and on many in turn (A B A B
   …, after a warm-up of each), each run a fresh process: wall and CPU seconds, and
   ``report_inputs(None)`` in this process; min/median/max of each and of the ratio
   many/one pair by pair (a drift of the machine's speed hits both sides of a pair);
2. ``storemon prune --older-than 8d`` on many (its time and result), then the same pairs.

Target (issue 10): the report's time on 4 weeks within 10 % of its time on 1 week.
The machine is shared: the load average is recorded before and after each step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATUS = ROOT.parent / "shared" / "data" / "store_status.csv.gz"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
STOREMON = [sys.executable, "-m", "storemon"]


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _report(url: str) -> tuple[float, float]:
    """One ``storemon report --db url``: (wall seconds, CPU seconds of the process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [*STOREMON, "report", "--db", url, "--output", os.devnull], check=True, capture_output=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def _inputs_seconds(url: str) -> float:
    from storemon.store import open_store

    store = open_store(url)
    try:
        started = time.perf_counter()
        store.report_inputs(None)
        return time.perf_counter() - started
    finally:
        store.close()


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def _paired(one: str, many: str, repeat: int) -> dict[str, object]:
    """The report on ``one`` and on ``many`` in turn (A B A B ...), after a warm-up of
    each: each figure's min/median/max and the ratio many/one pair by pair, so a drift in
    the machine's speed hits both sides of a pair alike."""
    _report(one), _report(many)
    walls: dict[str, list[float]] = {"one": [], "many": [], "ratio": []}
    cpus: dict[str, list[float]] = {"one": [], "many": [], "ratio": []}
    reads: dict[str, list[float]] = {"one": [], "many": [], "ratio": []}
    load = _load()
    for _ in range(repeat):
        (wall_one, cpu_one), (wall_many, cpu_many) = _report(one), _report(many)
        read_one, read_many = _inputs_seconds(one), _inputs_seconds(many)
        for figures, a, b in (
            (walls, wall_one, wall_many),
            (cpus, cpu_one, cpu_many),
            (reads, read_one, read_many),
        ):
            figures["one"].append(a)
            figures["many"].append(b)
            figures["ratio"].append(b / a)
    return {
        "report_wall_s": {key: _summary(values) for key, values in walls.items()},
        "report_cpu_s": {key: _summary(values) for key, values in cpus.items()},
        "report_inputs_s": {key: _summary(values) for key, values in reads.items()},
        "load": [load, _load()],
    }


def _counts(url: str) -> dict[str, int]:
    from storemon.store import open_store

    store = open_store(url)
    try:
        return store.counts()
    finally:
        store.close()


def run(one: str, many: str, files: dict[str, str], weeks: int, repeat: int) -> dict[str, object]:
    import pyarrow as pa
    import pyarrow.compute as pc

    from storemon.ingest.csv import read_source
    from storemon.store import IngestBatch, open_store

    polls = read_source("status", files["status"]).table
    hours = read_source("hours", files["hours"]).table
    zones = read_source("timezones", files["timezones"]).table
    stamps = polls.column("timestamp_utc")
    first = pc.min(stamps)
    applies = []
    for url, history in ((one, 1), (many, weeks)):
        store = open_store(url)
        try:
            # Oldest first, as history accumulates; the reported week last.
            for week in reversed(range(1, history)):
                shifted = pc.subtract(stamps, pa.scalar(timedelta(weeks=week)))
                older = polls.set_column(1, "timestamp_utc", shifted).filter(
                    pc.less(shifted, first)
                )
                started = time.perf_counter()
                store.apply_ingest(IngestBatch(polls=older))
                applies.append(round(time.perf_counter() - started, 2))
            store.apply_ingest(IngestBatch(polls=polls, hours=hours, timezones=zones))
        finally:
            store.close()
    result: dict[str, object] = {
        "polls_stored": {"one": _counts(one)["polls"], "many": _counts(many)["polls"]},
        "history_apply_s": applies,
        "history": _paired(one, many, repeat),
    }
    started = time.perf_counter()
    pruned = subprocess.run(
        [*STOREMON, "prune", "--db", many, "--older-than", "8d", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    result["prune"] = {
        "seconds": round(time.perf_counter() - started, 2),
        **json.loads(pruned.stdout),
    }
    result["after_prune"] = _paired(one, many, repeat)
    return result


def _database(backend: str, scratch: Path, pg_admin: str) -> tuple[str, str]:
    name = f"storemon_bench_{uuid.uuid4().hex[:10]}"
    if backend == "duckdb":
        return f"duckdb:///{scratch / (name + '.duckdb')}", name
    import psycopg

    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return pg_admin.rsplit("/", 1)[0] + "/" + name, name


def _drop(backend: str, name: str, pg_admin: str) -> None:
    if backend == "postgres":
        import psycopg

        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--status", type=Path, default=DEFAULT_STATUS)
    parser.add_argument("--hours", type=Path)
    parser.add_argument("--timezones", type=Path)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--backends", default="duckdb,postgres")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL admin URL")
    args = parser.parse_args()
    if not args.status.is_file():
        sys.exit(f"benchmark data not found: {args.status} (pass --status)")
    shared = args.status.resolve().parent
    files = {
        "status": str(args.status),
        "hours": str(args.hours or shared / "menu_hours.csv"),
        "timezones": str(args.timezones or shared / "timezones.csv"),
    }
    with tempfile.TemporaryDirectory(prefix="storemon-bench-history-") as scratch:
        for backend in args.backends.split(","):
            one, one_name = _database(backend.strip(), Path(scratch), args.pg)
            many, many_name = _database(backend.strip(), Path(scratch), args.pg)
            try:
                result: dict[str, object] = {"backend": backend, "load_before": _load()}
                result.update(run(one, many, files, args.weeks, args.repeat))
                result["load_after"] = _load()
            finally:
                _drop(backend.strip(), one_name, args.pg)
                _drop(backend.strip(), many_name, args.pg)
            print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
