"""SPEC Part 2 on the benchmark set: the new outputs against the plain report, and the per-store
endpoints' latency with the set loaded.

    .venv/bin/python benchmarks/bench_insight.py [--status ../shared/data/store_status.csv.gz]
        [--backends duckdb[,postgres]] [--repeat 5] [--requests 300] [--pg ADMIN_URL]
        [--hours FILE] [--timezones FILE]

Per backend, on a fresh database holding the benchmark set (one `storemon ingest`):

1. whole CLI processes, best of ``--repeat``, taken in turn so the machine's load hits
   them alike: `storemon report --db` (the plain report, the floor), `report --db
   --extended`, `profile --db`, `outages --db` (all stores); each as a ratio to the plain
   report of the same run (target: each at most 1.5x);
2. `storemon serve` on that database: ``--requests`` GETs each of
   `/stores/{id}/outages` and `/stores/{id}/timeline` for random stores, one client, after
   a warm-up; p50, p95, p99 and max (target: p99 under 50 ms: they read one store's inputs,
   not the fleet).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench_store import DEFAULT_PG, DEFAULT_STATUS, _Database, _run

COMMANDS = {
    "report": ["report"],
    "report --extended": ["report", "--extended"],
    "profile": ["profile"],
    "outages": ["outages"],
}
DATA_FILES = ("menu_hours.csv", "timezones.csv")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cli(url: str, repeat: int) -> dict[str, dict[str, float]]:
    """Best seconds and peak MB of each command, rounds taken in turn."""
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in COMMANDS}
    for _ in range(repeat):
        for name, argv in COMMANDS.items():
            result = _run([*argv, "--db", url, "--output", "/dev/null"])
            if result["exit"] != 0:
                raise SystemExit(f"{name} failed: {result.get('stderr')}")
            runs[name].append(result)
    out = {}
    for name, results in runs.items():
        best = min(float(r["seconds"]) for r in results)  # type: ignore[arg-type]
        peak = max(float(r["peak_mb"]) for r in results)  # type: ignore[arg-type]
        out[name] = {"best_s": best, "peak_mb": peak}
    floor = out["report"]["best_s"]
    for figures in out.values():
        figures["vs_report"] = round(figures["best_s"] / floor, 2)
    return out


def _store_ids(status: Path, count: int) -> list[str]:
    import pyarrow.compute as pc

    from storemon.ingest import read_source

    ids = pc.unique(read_source("status", status).table.column("store_id")).to_pylist()
    return random.Random(0).sample(ids, min(count, len(ids)))


def _endpoints(url: str, ids: list[str]) -> dict[str, dict[str, float]]:
    """Latency of the per-store endpoints on a real server over ``url``."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "storemon",
            "serve",
            "--db",
            url,
            "--port",
            str(port),
            "--no-inbox",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.3)
        out = {}
        for path in ("outages", "timeline"):
            for store_id in ids[:10]:  # warm-up
                urllib.request.urlopen(
                    f"{base}/stores/{urllib.parse.quote(store_id, safe='')}/{path}"
                ).read()
            times = []
            for store_id in ids:
                started = time.perf_counter()
                with urllib.request.urlopen(
                    f"{base}/stores/{urllib.parse.quote(store_id, safe='')}/{path}"
                ) as answer:
                    answer.read()
                times.append(1000 * (time.perf_counter() - started))
            out[f"/stores/{{id}}/{path}"] = {
                "p50_ms": round(_quantile(times, 0.50), 1),
                "p95_ms": round(_quantile(times, 0.95), 1),
                "p99_ms": round(_quantile(times, 0.99), 1),
                "max_ms": round(max(times), 1),
            }
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--status", type=Path, default=DEFAULT_STATUS)
    parser.add_argument("--backends", default="duckdb", help="duckdb and/or postgres")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL admin URL")
    parser.add_argument("--hours", type=Path, help="default: menu_hours.csv beside --status")
    parser.add_argument("--timezones", type=Path, help="default: timezones.csv beside --status")
    args = parser.parse_args()
    ids = _store_ids(args.status, args.requests)
    files = [
        args.hours or args.status.parent / DATA_FILES[0],
        args.timezones or args.status.parent / DATA_FILES[1],
    ]
    with tempfile.TemporaryDirectory(prefix="storemon-bench-insight-") as scratch:
        for backend in args.backends.split(","):
            database = _Database(backend, Path(scratch), args.pg)
            try:
                loaded = _run(
                    ["ingest", "--db", database.url, "--status", str(args.status),
                     "--hours", str(files[0]), "--timezones", str(files[1]), "--quiet"]
                )  # fmt: skip
                if loaded["exit"] != 0:
                    raise SystemExit(f"ingest failed: {loaded.get('stderr')}")
                result = {
                    "backend": backend,
                    "load_average": os.getloadavg()[0],
                    "cli": _cli(database.url, args.repeat),
                    "endpoints": _endpoints(database.url, ids),
                    "load_average_after": os.getloadavg()[0],
                }
                print(json.dumps(result, indent=2))
            finally:
                database.drop()


if __name__ == "__main__":
    main()
