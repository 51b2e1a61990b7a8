"""Engine benchmark: compute_report on the shared benchmark set, its growth, and the CLI.

    .venv/bin/python benchmarks/bench_engine.py [--quick] [--status PATH.csv.gz]
        [--scales 1,3,10] [--workers N] [--growth-only] [--shuffle] [--dictionary-ids] [--cold]
        [--extended]

Measures, once the inputs are in memory: best and median of compute_report (both
interpolations), peak RSS, the growth curve at 1x, 3x, 10x (stores replicated with
suffixed ids, each scale in a fresh process so its peak RSS is its own: time per
scale, ratio to 1x, time per million polls, CPU time, peak RSS, on ``--workers``
threads and on one; ``--shuffle`` interleaves the copies' rows), and the whole-process
time of ``storemon report`` on the
unpacked CSV (in a temp dir). The full run shows the growth curve twice: with text
store ids (the CSV path) and with store codes (dictionary-typed ids, as the database
hands them); ``--growth-only`` shows one (``--dictionary-ids`` for codes).
``--quick`` samples a tenth of the stores and runs fewer repetitions.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon.engine import compute_report
from storemon.engine.options import report_options
from storemon.engine.report import DEFAULT_WORKERS
from storemon.ingest.csv import read_source

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the repo
_join = cast("Callable[..., pa.ChunkedArray[Any]]", pc.binary_join_element_wise)
SCALES = (1, 3, 10)
#: CPU seconds of each timed run (all threads).
_CPU: list[float] = []
#: --cold: bytes written before each timed run, more than any CPU cache holds.
COLD_BYTES = 1 << 30
#: --extended: time the extended report (SPEC Part 2 columns) instead of the plain one.
EXTENDED = False


def _peak_rss_mb() -> float:
    """Peak RSS since start, or since the last :func:`_reset_peak` (Linux VmHWM)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Forget the peak so far (loading), so the next peak is the computation's (Linux)."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _load(status: Path, sample: int) -> tuple[pa.Table, pa.Table, pa.Table, float]:
    start = time.perf_counter()
    polls = read_source("status", status).table
    hours = read_source("hours", status.parent / "menu_hours.csv").table
    zones = read_source("timezones", status.parent / "timezones.csv").table
    seconds = time.perf_counter() - start
    if sample > 1:  # a fixed subset of stores: those whose id hashes to 0 mod sample
        ids = pc.unique(polls.column("store_id"))
        keep = ids.filter(
            pa.array([zlib.crc32(str(i).encode()) % sample == 0 for i in ids.to_pylist()])
        )
        polls, hours, zones = (
            t.filter(pc.is_in(t.column("store_id"), value_set=keep)) for t in (polls, hours, zones)
        )
    return polls, hours, zones, seconds


def _replicate(table: pa.Table, times: int) -> pa.Table:
    """``times`` copies of ``table``; copy k > 0 has ``~k`` appended to every store id."""
    copies = [table]
    for k in range(1, times):
        ids = _join(table.column("store_id"), f"~{k}", "")
        copies.append(table.set_column(0, table.schema.field(0), ids))
    return pa.concat_tables(copies).combine_chunks()


def _time(
    polls: pa.Table,
    hours: pa.Table,
    zones: pa.Table,
    mode: str,
    runs: int,
    workers: int = DEFAULT_WORKERS,
    sweep: NDArray[np.float64] | None = None,
) -> list[float]:
    """Seconds per run; with ``sweep``, the caches are evicted (``sweep`` written) first."""
    times = []
    options = report_options(extended=True) if EXTENDED else None
    for _ in range(runs):
        if sweep is not None:  # evict the inputs from every CPU cache before the run
            sweep += 1.0
        cpu_start = time.process_time()
        start = time.perf_counter()
        compute_report(
            polls,
            hours,
            zones,
            interpolation=mode,  # type: ignore[arg-type]
            workers=workers,
            options=options,
        )
        times.append(time.perf_counter() - start)
        _CPU.append(time.process_time() - cpu_start)
    return times


def _child(
    status: Path,
    scale: int,
    sample: int,
    runs: int,
    workers: int,
    shuffle: bool,
    coded: bool,
    cold: bool,
) -> None:
    """One scale in this process: print a JSON line with timings and peak RSS."""
    polls, hours, zones, _ = _load(status, sample)
    polls, hours, zones = (_replicate(t, scale) for t in (polls, hours, zones))
    if shuffle:  # interleave the copies, as polls of all stores arriving over time would
        order = np.random.default_rng(0).permutation(polls.num_rows)
        polls = polls.take(order).combine_chunks()
        del order
    if coded:  # store codes given, as a reader that encodes while parsing would hand them
        polls = polls.set_column(0, "store_id", pc.dictionary_encode(polls.column("store_id")))
    # the sweep is allocated before the peak is reset; it is left out of the figures
    sweep = np.ones(COLD_BYTES // 8) if cold else None
    sweep_mb = COLD_BYTES / 2**20 if cold else 0.0
    _reset_peak()
    rss_inputs = _peak_rss_mb() - sweep_mb
    _CPU.clear()
    times = _time(polls, hours, zones, "nearest", runs, workers, sweep)
    cpu = statistics.median(_CPU)
    rss_peak = _peak_rss_mb() - sweep_mb
    one = _time(polls, hours, zones, "nearest", runs, 1, sweep) if workers > 1 else times
    result = {
        "scale": scale,
        "polls": polls.num_rows,
        "stores": len(pc.unique(polls.column("store_id"))),
        "best": min(times),
        "cpu": cpu,
        "median": statistics.median(times),
        "best_1": min(one),
        "rss_inputs_mb": rss_inputs,
        "rss_peak_mb": rss_peak,
    }
    print(json.dumps(result))


def _growth(
    status: Path,
    scales: list[int],
    quick: bool,
    workers: int,
    shuffle: bool,
    coded: bool,
    cold: bool,
) -> None:
    """The growth curve, each scale measured in a fresh process."""
    rows = "rows shuffled" if shuffle else "copies one after the other"
    rows += (
        ", store codes: dictionary-typed store_id, as the database hands it"
        if coded
        else ", text store_id, as the CSV reader hands it"
    )
    rows += ", caches evicted before each run" if cold else ""
    what = "extended report" if EXTENDED else "report"
    print(
        f"growth of the {what} (nearest, {workers} worker threads, {rows}; fresh process per"
        " scale, best of runs)"
    )
    print(
        "  scale       polls    stores     best   median   vs 1x  s/M polls  cpu/run"
        "  1 thread  vs 1x   peak RSS (inputs)"
    )
    base: dict[str, float] = {}
    for scale in scales:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--status",
                str(status),
                "--child-scale",
                str(scale),
                "--workers",
                str(workers),
            ]
            + (["--quick"] if quick else [])
            + (["--shuffle"] if shuffle else [])
            + (["--dictionary-ids"] if coded else [])
            + (["--cold"] if cold else [])
            + (["--extended"] if EXTENDED else []),
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if not base:  # the ratios are per unit of scale, relative to the first scale
            base = {"best": r["best"] / scale, "best_1": r["best_1"] / scale}
        print(
            f"  {r['scale']:>4}x {r['polls']:>11,} {r['stores']:>8,} {r['best']:7.3f} s"
            f" {r['median']:7.3f} s {r['best'] / base['best']:6.2f}x"
            f" {r['best'] / (r['polls'] / 1e6):8.3f} s {r['cpu']:7.3f} s"
            f" {r['best_1']:7.3f} s {r['best_1'] / base['best_1']:6.2f}x"
            f" {r['rss_peak_mb']:7.0f} MB ({r['rss_inputs_mb']:.0f} MB)"
        )


def _cli_seconds(status: Path, runs: int) -> list[float]:
    tmp = Path(tempfile.mkdtemp(prefix="storemon-bench-"))
    try:
        plain = tmp / "store_status.csv"
        with gzip.open(status, "rb") as src, plain.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        storemon = Path(sys.executable).parent / "storemon"
        args = [
            str(storemon),
            "report",
            "--status",
            str(plain),
            "--hours",
            str(status.parent / "menu_hours.csv"),
            "--timezones",
            str(status.parent / "timezones.csv"),
            "--output",
            "/dev/null",
        ]
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        return times
    finally:
        shutil.rmtree(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--status", type=Path, default=DATA / "store_status.csv.gz")
    parser.add_argument("--quick", action="store_true", help="a tenth of the stores, fewer runs")
    parser.add_argument(
        "--scales", default=",".join(map(str, SCALES)), help="growth curve scales, e.g. 1,3,10"
    )
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="compute_report worker threads"
    )
    parser.add_argument("--growth-only", action="store_true", help="only the growth curve")
    parser.add_argument(
        "--shuffle", action="store_true", help="growth: shuffle the replicated polls' rows"
    )
    parser.add_argument(
        "--dictionary-ids",
        action="store_true",
        help="--growth-only: store_id dictionary-typed (store codes, as the database hands it)",
    )
    parser.add_argument(
        "--cold", action="store_true", help="growth: evict the CPU caches before each run"
    )
    parser.add_argument(
        "--extended",
        action="store_true",
        help="time the extended report (unobserved, outages, longest outage) instead",
    )
    parser.add_argument("--child-scale", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global EXTENDED
    EXTENDED = args.extended
    sample, runs = (10, 3) if args.quick else (1, 7)
    if args.child_scale:
        _child(
            args.status,
            args.child_scale,
            sample,
            runs,
            args.workers,
            args.shuffle,
            args.dictionary_ids,
            args.cold,
        )
        return
    scales = [int(x) for x in args.scales.split(",")]
    if args.growth_only:
        _growth(
            args.status,
            scales,
            args.quick,
            args.workers,
            args.shuffle,
            args.dictionary_ids,
            args.cold,
        )
        return

    if not args.quick:  # first, while this process is small (a child starts from its size)
        cli = _cli_seconds(args.status, 3)
        print(
            "storemon report --status <unpacked csv> --hours --timezones --output /dev/null:"
            f" best {min(cli):.2f} s, median {statistics.median(cli):.2f} s (whole process)"
        )
        print()
    polls, hours, zones, load_s = _load(args.status, sample)
    stores = len(pc.unique(polls.column("store_id")))
    print(f"inputs: {polls.num_rows:,} polls, {stores:,} stores, {hours.num_rows:,} hours rows")
    print(f"read_source (3 files): {load_s:.2f} s; peak RSS while loading: {_peak_rss_mb():.0f} MB")
    _reset_peak()
    print(f"RSS with the inputs in memory: {_peak_rss_mb():.0f} MB")
    print()
    print(f"compute_report, {runs} runs, {args.workers} worker threads      best      median")
    for mode in ("nearest", "previous"):
        times = _time(polls, hours, zones, mode, runs, args.workers)
        print(f"  {mode:<39} {min(times):7.3f} s  {statistics.median(times):7.3f} s")
    times = _time(polls, hours, zones, "nearest", runs, 1)
    print(f"  {'nearest, 1 thread':<39} {min(times):7.3f} s  {statistics.median(times):7.3f} s")
    print(f"  peak RSS during the runs (inputs included): {_peak_rss_mb():.0f} MB")
    # The engine takes a dictionary-typed store_id as is: what a reader that dictionary-
    # encodes while parsing (or a store that keeps store codes) would hand it.
    coded = polls.set_column(0, "store_id", pc.dictionary_encode(polls.column("store_id")))
    times = _time(coded, hours, zones, "nearest", runs, args.workers)
    label = "nearest, dictionary ids"
    print(f"  {label:<39} {min(times):7.3f} s  {statistics.median(times):7.3f} s")
    del polls, hours, zones, coded

    # Both kinds of ids: text (what the CSV path hands the engine) and store codes
    # (dictionary-typed, what the database hands it since schema version 3).
    for coded_ids in (False, True):
        print()
        _growth(args.status, scales, args.quick, args.workers, args.shuffle, coded_ids, args.cold)


if __name__ == "__main__":
    main()
