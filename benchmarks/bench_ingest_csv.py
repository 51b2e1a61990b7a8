"""Benchmark read_source (CSV read + validation) on the benchmark poll set and the real inputs.

    .venv/bin/python benchmarks/bench_ingest_csv.py [--status ../shared/data/store_status.csv.gz]

Each case runs in a fresh process (so peak memory is its own): the gzipped poll
file, the same file unpacked to a temporary directory, and the bundled hours and
timezones. Prints best and median wall time over --repeat reads and the peak
resident memory of the process (the Python + pyarrow baseline is shown apart).
Targets for the unpacked poll file: < 1.0 s and < 1 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATUS = ROOT.parent / "shared" / "data" / "store_status.csv.gz"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(source: str, path: str, repeat: int) -> dict[str, object]:
    """Read one file `repeat` times in this process; report times and memory."""
    from storemon.ingest import read_source

    baseline = _peak_mb()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        parsed = read_source(source, path)  # type: ignore[arg-type]
        times.append(time.perf_counter() - started)
        del parsed
    parsed = read_source(source, path)  # type: ignore[arg-type]
    return {
        "source": source,
        "file": path,
        "rows": parsed.rows,
        "valid": parsed.table.num_rows,
        "rejects": parsed.rejected,
        "best_s": min(times),
        "median_s": statistics.median(times),
        "peak_mb": _peak_mb(),
        "baseline_mb": baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--status", type=Path, default=DEFAULT_STATUS, help="gzipped poll CSV")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--case", nargs=2, metavar=("SOURCE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], args.case[1], args.repeat)))
        return

    from storemon import demo_data

    if not args.status.is_file():
        sys.exit(f"benchmark data not found: {args.status} (pass --status)")
    with tempfile.TemporaryDirectory(prefix="storemon-bench-") as scratch:
        unpacked = Path(scratch) / args.status.name.removesuffix(".gz")
        with gzip.open(args.status, "rb") as packed, unpacked.open("wb") as plain:
            shutil.copyfileobj(packed, plain, 1 << 20)
        cases = [
            ("status", args.status),
            ("status", unpacked),
            ("hours", demo_data.hours_path()),
            ("timezones", demo_data.timezones_path()),
        ]
        print(
            f"{'source':<10} {'file':<24} {'rows':>10} {'rejects':>8} {'best s':>7} "
            f"{'median s':>8} {'peak MB':>8} {'base MB':>8}"
        )
        for source, path in cases:
            command = [sys.executable, __file__, "--case", source, str(path)]
            command += ["--repeat", str(args.repeat)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout)
            print(
                f"{source:<10} {Path(path).name:<24} {result['rows']:>10,} {result['rejects']:>8,} "
                f"{result['best_s']:>7.3f} {result['median_s']:>8.3f} "
                f"{result['peak_mb']:>8.0f} {result['baseline_mb']:>8.0f}"
            )


if __name__ == "__main__":
    main()
