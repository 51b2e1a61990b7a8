"""Growth of the whole report path, as a user runs it: 1x, 3x, 10x the stores and polls.

    .venv/bin/python benchmarks/bench_growth.py [--status ../shared/data/store_status.csv.gz]
        [--scales 1,3,10] [--backends duckdb[,postgres]] [--repeat 3] [--pg ADMIN_URL]

The benchmark set is copied ``scale`` times into CSV files (copy k > 0 has ``~k``
appended to every store id, in its polls, hours and timezones; the copies' rows
are interleaved, as a bigger fleet's polls arriving over time would be). For each
scale, each command in a fresh process (wall seconds, best of ``--repeat``; peak
RSS of that run):

1. ``storemon report --status --hours --timezones`` on the CSV files (reads and
   validates them, hashes the text ids, computes, writes the CSV);
2. per backend, on a fresh database: ``storemon ingest`` of the three files (once),
   then ``storemon report --db`` (reads the report inputs with store codes,
   computes, writes the CSV).

The ratio column is the time relative to the first scale's time per unit of scale:
below the scale means the path grows less than linearly. For the engine alone
(inputs in memory) see ``bench_engine.py --growth-only``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bench_engine import _replicate
from bench_store import DEFAULT_PG, DEFAULT_STATUS, _Database, _run

SOURCES = ("status", "hours", "timezones")


def _read_text(path: Path) -> pa.Table:
    """A CSV file with every column as text, exactly as written."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as handle:
        data = handle.read()
    options = pacsv.ConvertOptions(auto_dict_encode=False, strings_can_be_null=False)
    table = pacsv.read_csv(pa.py_buffer(data), convert_options=options)
    return table.cast(pa.schema([pa.field(name, pa.string()) for name in table.column_names]))


#: Rows of the original file replicated and shuffled at a time: at 54x a batch is about
#: 5 M rows, where one shuffle of the whole file would hold 100 M rows twice.
_BATCH_ROWS = 100_000


def _scaled_batches(table: pa.Table, scale: int, shuffle: bool) -> Iterator[pa.Table]:
    """``scale`` copies of ``table`` (:func:`bench_engine._replicate`), batch by batch of
    :data:`_BATCH_ROWS` original rows; with ``shuffle``, each batch's copies interleaved
    (one fleet, not copies one after the other). Never the whole file in one table: the
    ids of 100 M rows pass the 2 GiB a string column holds."""
    rng = np.random.default_rng(scale)
    for start in range(0, table.num_rows, _BATCH_ROWS):
        batch = _replicate(table.slice(start, _BATCH_ROWS), scale)
        if shuffle and scale > 1:
            batch = batch.take(rng.permutation(batch.num_rows))
        yield batch


def write_scaled(files: dict[str, Path], scale: int, folder: Path) -> tuple[dict[str, str], int]:
    """The three sources at ``scale``, as plain CSV files in ``folder``; the polls' count."""
    out = {}
    polls = 0
    options = pacsv.WriteOptions(quoting_style="needed", include_header=True)
    for source, path in files.items():
        target = folder / f"{source}-{scale}x.csv"
        rows = 0
        writer: pacsv.CSVWriter | None = None
        for batch in _scaled_batches(_read_text(path), scale, shuffle=source == "status"):
            if writer is None:
                writer = pacsv.CSVWriter(target, batch.schema, write_options=options)
            writer.write_table(batch)
            rows += batch.num_rows
        if writer is not None:
            writer.close()
        out[source] = str(target)
        polls = rows if source == "status" else polls
    return out, polls


def write_in_child(files: dict[str, Path], scale: int, folder: Path) -> tuple[dict[str, str], int]:
    """:func:`write_scaled` in a child process, so this one stays small: a child's peak
    RSS starts from its parent's at fork, and the commands timed are this one's children."""
    argv = [sys.executable, __file__, "--write-scaled", str(scale), str(folder)]
    for source, path in files.items():
        argv += [f"--{source}", str(path)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    return cast("dict[str, str]", result["files"]), int(result["polls"])


def _best(argv: list[str], repeat: int) -> tuple[float, int]:
    """Best wall seconds of ``repeat`` fresh-process runs, and that run's peak MB."""
    runs = [_run(argv) for _ in range(repeat)]
    failed = [r for r in runs if r["exit"] != 0]
    if failed:
        sys.exit(f"storemon {' '.join(argv)} failed: {failed[0].get('stderr', '')}")
    best = min(runs, key=lambda r: cast("float", r["seconds"]))
    return cast("float", best["seconds"]), cast("int", best["peak_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--status", type=Path, default=DEFAULT_STATUS)
    parser.add_argument("--hours", type=Path, help="default: menu_hours.csv beside --status")
    parser.add_argument("--timezones", type=Path, help="default: timezones.csv beside --status")
    parser.add_argument("--scales", default="1,3,10", help="e.g. 1,3,10")
    parser.add_argument("--backends", default="duckdb", help="duckdb, postgres or both")
    parser.add_argument("--repeat", type=int, default=3, help="runs per report command")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL admin URL")
    parser.add_argument("--write-scaled", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    files = {
        "status": args.status,
        "hours": args.hours or args.status.parent / "menu_hours.csv",
        "timezones": args.timezones or args.status.parent / "timezones.csv",
    }
    if args.write_scaled:  # the child of write_in_child
        scaled, polls = write_scaled(files, int(args.write_scaled[0]), Path(args.write_scaled[1]))
        print(json.dumps({"files": scaled, "polls": polls}))
        return
    scales = [int(x) for x in args.scales.split(",")]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    paths = ["report from CSV files", *(f"report --db, {b}" for b in backends)]
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    scratch = Path(tempfile.mkdtemp(prefix="storemon-growth-"))
    base: dict[str, float] = {}
    try:
        print(f"{'path':<24} {'scale':>5} {'polls':>12} {'time':>8} {'vs 1x':>7}  peak RSS")
        for scale in scales:
            scaled, polls = write_in_child(files, scale, scratch)
            times = {}
            csv_args = ["report", "--output", os.devnull]
            for source in SOURCES:
                csv_args += [f"--{source}", scaled[source]]
            times[paths[0]] = _best(csv_args, args.repeat)
            for backend, path in zip(backends, paths[1:], strict=True):
                database = _Database(backend, scratch, args.pg)
                try:
                    ingest = ["ingest", "--db", database.url]
                    for source in SOURCES:
                        ingest += [f"--{source}", scaled[source]]
                    _best(ingest, 1)
                    report = ["report", "--db", database.url, "--output", os.devnull]
                    times[path] = _best(report, args.repeat)
                finally:
                    database.drop()
            for path, (seconds, peak_mb) in times.items():
                base.setdefault(path, seconds / scale)
                print(
                    f"{path:<24} {scale:>4}x {polls:>12,} {seconds:7.2f}s"
                    f" {seconds / base[path]:6.2f}x  {peak_mb:,} MB"
                )
            for name in scaled.values():
                os.remove(name)
    finally:
        shutil.rmtree(scratch)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
