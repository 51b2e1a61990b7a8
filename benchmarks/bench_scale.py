"""Scale-out (issue 10): the report of N x the benchmark set, single process, partitioned
in one process, and on a LocalCluster of Dask workers; PostgreSQL and DuckDB.

    .venv/bin/python benchmarks/bench_scale.py [--status ../shared/data/store_status.csv.gz]
        [--scales 1,10,70] [--backends duckdb,postgres] [--workers 2]
        [--polls-per-partition 5000000] [--pg ADMIN_URL] [--skip-single-above 0]

For each scale N the benchmark set is copied N times (copy k > 0 has ``~k`` appended to
every store id, in polls, hours and zones) and ingested into a fresh database by a child
process (``apply_ingest``, one batch per copy). Then, each in a fresh process (wall
seconds, peak RSS):

1. ``storemon report --db URL`` (single process);
2. ``storemon report --db URL --partitions K``, K = the polls / ``--polls-per-partition``
   (5 M by default) rounded up, and at least ``--workers``;
3. a driver that starts a LocalCluster of ``--workers`` worker processes (1 thread
   each), times the cluster's start, then the report on it twice (K partitions, as
   ``storemon report --cluster`` computes it: the workers read the database, a DuckDB
   file too, and this process never opens it), and reads each worker's peak RSS. The
   client's peak includes the scheduler, which a LocalCluster runs in the client's
   process.

Every run's CSV is hashed: the table says whether all runs of a scale gave the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from bench_store import DEFAULT_PG, DEFAULT_STATUS, _Database, _run


def _ingest(
    url: str, scale: int, status: Path, hours_file: Path, zones_file: Path
) -> dict[str, Any]:
    """Child process: ``scale`` copies of the benchmark set into ``url``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from storemon.ingest.csv import read_source
    from storemon.store import IngestBatch, open_store

    polls = read_source("status", status).table
    hours = read_source("hours", hours_file).table
    zones = read_source("timezones", zones_file).table

    def copy(table: pa.Table, k: int) -> pa.Table:
        if k == 0:
            return table
        ids = pc.binary_join_element_wise(table.column("store_id"), f"~{k}", "")
        return table.set_column(0, table.schema.field(0), ids)

    started = time.perf_counter()
    store = open_store(url)
    try:
        store.apply_ingest(
            IngestBatch(
                polls=(copy(polls, k) for k in range(scale)),
                hours=pa.concat_tables([copy(hours, k) for k in range(scale)]),
                timezones=pa.concat_tables([copy(zones, k) for k in range(scale)]),
            )
        )
        counts = store.counts()
    finally:
        store.close()
    return {"seconds": round(time.perf_counter() - started, 1), **counts}


def _peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _cluster(url: str, workers: int, partitions: int, output: str) -> dict[str, Any]:
    """Child process: a LocalCluster's start, then the report on it twice."""
    from storemon.jobs.dask_compute import DaskCompute
    from storemon.jobs.outputs import JobSpec

    compute = DaskCompute(f"local:{workers}", partitions=partitions, timeout_seconds=7200)
    try:
        started = time.perf_counter()
        client = compute.client
        client.wait_for_workers(workers)
        startup = time.perf_counter() - started
        seconds = []
        for _ in range(2):
            started = time.perf_counter()
            done = compute.output_of_database(url, JobSpec(), as_of=None, interpolation="nearest")
            seconds.append(time.perf_counter() - started)
        Path(output).write_bytes(done.csv)
        peaks = client.run(_peak_mb)
    finally:
        compute.close()
    return {
        "startup": round(startup, 2),
        "first": round(seconds[0], 2),
        "again": round(seconds[1], 2),
        "client_peak_mb": _peak_mb(),
        "worker_peak_mb": sorted(int(v) for v in peaks.values()),
    }


def _child(argv: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *argv], check=True, capture_output=True, text=True
    )
    return cast("dict[str, Any]", json.loads(out.stdout.strip().splitlines()[-1]))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _timed(argv: list[str], output: Path) -> tuple[float, int, str]:
    run = _run([*argv, "--output", str(output)])
    if run["exit"] != 0:
        sys.exit(f"storemon {' '.join(argv)} failed: {run.get('stderr', '')}")
    digest = _digest(output)
    output.unlink()
    return cast("float", run["seconds"]), cast("int", run["peak_mb"]), digest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--status", type=Path, default=DEFAULT_STATUS)
    parser.add_argument("--hours", type=Path, help="default: menu_hours.csv beside --status")
    parser.add_argument("--timezones", type=Path, help="default: timezones.csv beside --status")
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--backends", default="duckdb,postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--polls-per-partition",
        type=int,
        default=5_000_000,
        help="K = the polls / this, rounded up, at least --workers",
    )
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL admin URL")
    parser.add_argument(
        "--skip-single-above", type=int, default=0, help="no single-process run above this scale"
    )
    parser.add_argument("--ingest", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--cluster-run", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    hours = args.hours or args.status.parent / "menu_hours.csv"
    zones = args.timezones or args.status.parent / "timezones.csv"
    if args.ingest:
        print(json.dumps(_ingest(args.ingest[0], int(args.ingest[1]), args.status, hours, zones)))
        return
    if args.cluster_run:
        url, workers, partitions, output = args.cluster_run
        print(json.dumps(_cluster(url, int(workers), int(partitions), output)))
        return
    scales = [int(x) for x in args.scales.split(",")]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(f"load average at start: {os.getloadavg()[0]:.2f}; cores: {os.cpu_count()}")
    scratch = Path(tempfile.mkdtemp(prefix="storemon-scale-"))
    rows: list[str] = []
    try:
        for scale in scales:
            for backend in backends:
                database = _Database(backend, scratch, args.pg)
                try:
                    loaded = _child(
                        [
                            *("--status", str(args.status), "--hours", str(hours)),
                            *("--timezones", str(zones), "--ingest", database.url, str(scale)),
                        ]
                    )
                    print(f"{backend} {scale}x: ingested {loaded}", flush=True)
                    per = args.polls_per_partition
                    partitions = max(args.workers, -(-int(loaded["polls"]) // per))
                    report = ["report", "--db", database.url]
                    digests = set()
                    line = f"| {backend} | {scale}× | {loaded['polls']:,} | {loaded['stores']:,} |"
                    if args.skip_single_above and scale > args.skip_single_above:
                        line += " not run |"
                    else:
                        seconds, peak, digest = _timed(report, scratch / "single.csv")
                        digests.add(digest)
                        line += f" {seconds:.1f} s, {peak:,} MB |"
                    seconds, peak, digest = _timed(
                        [*report, "--partitions", str(partitions)], scratch / "parts.csv"
                    )
                    digests.add(digest)
                    line += f" {seconds:.1f} s, {peak:,} MB (K={partitions}) |"
                    output = scratch / "cluster.csv"
                    on = _child(
                        [
                            "--cluster-run",
                            database.url,
                            str(args.workers),
                            str(partitions),
                            str(output),
                        ]
                    )
                    digests.add(_digest(output))
                    output.unlink()
                    workers_mb = " / ".join(f"{mb:,}" for mb in on["worker_peak_mb"])
                    line += (
                        f" {on['first']:.1f} s (again {on['again']:.1f} s; start"
                        f" {on['startup']:.1f} s), client {on['client_peak_mb']:,} MB,"
                        f" workers {workers_mb} MB |"
                        f" {'yes' if len(digests) == 1 else 'NO: ' + ', '.join(digests)} |"
                    )
                    print(line, flush=True)
                    rows.append(line)
                finally:
                    database.drop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(
        "| backend | scale | polls | stores | single process | --partitions K |"
        f" LocalCluster, {args.workers} workers | same bytes |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for line in rows:
        print(line)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
