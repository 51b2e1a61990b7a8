"""Hostile input, measured: time and peak memory of the real commands (issue 15's targets).

    .venv/bin/python benchmarks/bench_hostile.py [--bomb-mib 1024] [--blank-mib 16]
        [--status ../shared/data/store_status.csv.gz] [--repeat 3]
        [--baseline 'env PYTHONPATH=/path/to/main/src .venv/bin/python']

Each command runs in a fresh process (wall seconds; peak RSS from the kernel):

1. **gzip bomb**: ``storemon serve`` on a fresh DuckDB file; a gzip body of a header,
   one row and ``--bomb-mib`` MiB of line breaks (about 1 MB packed for 1 GiB) posted
   to ``/ingest/status`` while another thread asks ``/healthz`` every 0.1 s. Prints the
   answer, its time, the slowest ``/healthz`` and the server's peak RSS (VmHWM).
   Targets: refused or handled in < 10 s, peak < 1.5 GB, ``/healthz`` answering.
2. **blank lines**: ``storemon ingest`` of 1,000 rows, ``--blank-mib`` MiB of ``\\n``,
   1,000 rows. Targets: < 5 s, < 1 GB, all 2,000 rows kept.
3. **other hostile files** through ``storemon ingest --json``: a stray quote before
   100,000 rows, a 5 MiB row among 100,000, a NUL byte, a byte order mark mid-file.
4. **the benchmark set** (``--scale N``: copied N times, as ``bench_growth.py`` does):
   ``storemon ingest`` of the three files into a fresh DuckDB, and ``storemon report
   --status --hours --timezones`` from the CSV files. With ``--baseline`` (a command
   that runs another Python with another storemon, e.g. main's), each command of
   sections 2-4 also runs with it, in turn (A B A B), and the ratio of the medians is
   printed: same run, same load.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from _serving import Server

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATUS = ROOT.parent / "shared" / "data" / "store_status.csv.gz"
HEADER = b"store_id,status,timestamp_utc\n"
STAMP = b"2023-01-22 12:09:39.388884 UTC"
_MIB = 1 << 20


def _row(index: int) -> bytes:
    return b"s%d,active,%s\n" % (index, STAMP)


def _rows(first: int, count: int) -> bytes:
    return b"".join(_row(i) for i in range(first, first + count))


def _measure(prefix: list[str], argv: list[str]) -> dict[str, object]:
    """Like :func:`_run`, with the child's own peak RSS (``wait4``)."""
    command = [*prefix, "-c", "from storemon.cli import main; main()", *argv]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            command, stdout=out, stderr=err, env=env, cwd=tempfile.gettempdir()
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return {
            "seconds": seconds,
            "peak_mb": round(usage.ru_maxrss / 1024),
            "exit": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace")[-400:],
        }


def _peak_rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return -1


def _bomb(mib: int) -> bytes:
    """A gzip file of a header, one row and ``mib`` MiB of line breaks, packed piece by
    piece (this process never holds the text: its children's peak RSS starts from it)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(HEADER + _row(0))]
    piece = b"\n" * _MIB
    parts += [packer.compress(piece) for _ in range(mib)]
    parts.append(packer.flush())
    return b"".join(parts)


def bench_bomb(mib: int, scratch: Path) -> None:
    body = _bomb(mib)
    server = Server(
        f"duckdb:///{scratch / 'bomb.duckdb'}",
        scratch,
        env={"STOREMON_REPORT_WORKERS": "1"},
        args=("--log-level", "warning"),
        start_seconds=60,
    )
    url = server.url
    try:
        before = _peak_rss_mb(server.process.pid)
        worst = [0.0]
        failures = [0]
        stop = threading.Event()

        def poll_health() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    urllib.request.urlopen(f"{url}/healthz", timeout=10).read()
                except OSError:
                    failures[0] += 1
                worst[0] = max(worst[0], time.perf_counter() - started)
                stop.wait(0.1)

        poller = threading.Thread(target=poll_health, daemon=True)
        poller.start()
        request = urllib.request.Request(
            f"{url}/ingest/status", data=body, headers={"Content-Type": "text/csv"}
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        seconds = time.perf_counter() - started
        stop.set()
        poller.join()
        peak = _peak_rss_mb(server.process.pid)
    finally:
        server.stop()
    summary = answer.decode(errors="replace")[:160]
    print(
        f"gzip bomb: {len(body):,} bytes packed, {mib} MiB of line breaks: HTTP {status} in "
        f"{seconds:.2f} s; server peak RSS {peak:,} MB (at start {before:,} MB); "
        f"/healthz worst {worst[0]:.2f} s, {failures[0]} failed"
    )
    print(f"  answer: {summary}")


def _compare(
    name: str,
    argv: list[str],
    prefix: list[str],
    baseline: list[str] | None,
    repeat: int,
    fresh: Path,
) -> dict[str, object]:
    """Run ``argv`` ``repeat`` times (in turn with the baseline), each on a fresh database
    file ``fresh``; print the medians and their ratios; the last run of ours."""
    ours: list[dict[str, object]] = []
    theirs: list[dict[str, object]] = []
    for _ in range(repeat):
        for runs, command in ((ours, prefix), (theirs, baseline)):
            if command is not None:
                fresh.unlink(missing_ok=True)
                runs.append(_measure(command, argv))
    line = f"{name:<44} {_median(ours, 'seconds'):7.2f} s {_median(ours, 'peak_mb'):7,.0f} MB"
    if theirs:
        line += (
            f"   baseline {_median(theirs, 'seconds'):7.2f} s {_median(theirs, 'peak_mb'):7,.0f} MB"
            f"   ratio time {_median(ours, 'seconds') / _median(theirs, 'seconds'):.2f}"
            f" memory {_median(ours, 'peak_mb') / _median(theirs, 'peak_mb'):.2f}"
        )
    print(line)
    last = ours[-1]
    if last["exit"] != 0:
        print(f"  exit {last['exit']}: {str(last['stderr']).strip()[-300:]}")
    return last


def _median(runs: list[dict[str, object]], key: str) -> float:
    return float(statistics.median(float(run[key]) for run in runs))  # type: ignore[arg-type]


def bench_files(
    prefix: list[str], baseline: list[str] | None, blank_mib: int, repeat: int, scratch: Path
) -> None:
    cases = {
        f"{blank_mib} MiB of blank lines": HEADER
        + _rows(0, 1000)
        + b"\n" * (blank_mib * _MIB)
        + _rows(1000, 1000),
        "a stray quote, then 100,000 rows": HEADER
        + b'q,"active,'
        + STAMP
        + b"\n"
        + _rows(0, 100_000),
        "a 5 MiB row among 100,000": HEADER
        + _rows(0, 50_000)
        + b"x" * (5 * _MIB)
        + b",active,"
        + STAMP
        + b"\n"
        + _rows(50_000, 50_000),
        "a NUL byte among 100,000 rows": HEADER
        + _rows(0, 50_000)
        + b"n\x00,active,"
        + STAMP
        + b"\n"
        + _rows(50_000, 50_000),
        "a BOM mid-file, 2 x 50,000 rows": HEADER
        + _rows(0, 50_000)
        + b"\xef\xbb\xbf"
        + _rows(50_000, 50_000),
    }
    for name, data in cases.items():
        path = scratch / "hostile.csv"
        path.write_bytes(data)
        database = scratch / "hostile.duckdb"
        argv = ["ingest", "--db", f"duckdb:///{database}", "--status", str(path), "--json"]
        result = _compare(name, argv, prefix, baseline, repeat, database)
        try:
            part = json.loads(str(result["stdout"]))["status"]
            print(
                f"  {part['rows']:,} rows, {part['loaded']:,} loaded, {part['rejected']} rejected"
            )
        except (ValueError, KeyError):
            print(f"  no summary (exit {result['exit']})")
        database.unlink(missing_ok=True)


def bench_benchmark_set(
    prefix: list[str],
    baseline: list[str] | None,
    status: Path,
    repeat: int,
    scratch: Path,
    scale: int,
) -> None:
    files = {
        "status": status,
        "hours": status.parent / "menu_hours.csv",
        "timezones": status.parent / "timezones.csv",
    }
    if not all(path.is_file() for path in files.values()):
        print(f"benchmark set not found beside {status}: skipped")
        return
    polls = 0
    if scale > 1:  # the set copied `scale` times (bench_growth.py's copies), plain CSV
        argv = [sys.executable, str(ROOT / "benchmarks" / "bench_growth.py")]
        argv += ["--write-scaled", str(scale), str(scratch)]
        argv += [f"--{source}={path}" for source, path in files.items()]
        written = json.loads(subprocess.run(argv, check=True, capture_output=True).stdout)
        files = {source: Path(path) for source, path in written["files"].items()}
        polls = int(written["polls"])
    sources = [arg for source, path in files.items() for arg in (f"--{source}", str(path))]
    database = scratch / "bench.duckdb"
    name = "benchmark set" if scale == 1 else f"benchmark set x{scale} ({polls:,} polls)"
    _compare(
        f"{name}: ingest into DuckDB",
        ["ingest", "--db", f"duckdb:///{database}", *sources],
        prefix,
        baseline,
        repeat,
        database,
    )
    _compare(
        f"{name}: report --status (CSV)",
        ["report", "--output", os.devnull, *sources],
        prefix,
        baseline,
        repeat,
        database,
    )
    database.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--bomb-mib", type=int, default=1024, help="line breaks in the bomb")
    parser.add_argument("--blank-mib", type=int, default=16, help="blank lines, MiB")
    parser.add_argument("--status", type=Path, default=DEFAULT_STATUS, help="benchmark polls")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command")
    parser.add_argument("--baseline", help="a command that runs another Python (e.g. main's)")
    parser.add_argument("--skip", default="", help="sections to skip: bomb,files,set")
    parser.add_argument("--scale", type=int, default=1, help="copies of the benchmark set")
    args = parser.parse_args()
    prefix = [sys.executable]
    baseline = shlex.split(args.baseline) if args.baseline else None
    skip = set(args.skip.split(","))
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="storemon-hostile-") as folder:
        scratch = Path(folder)
        if "bomb" not in skip:
            bench_bomb(args.bomb_mib, scratch)
            if baseline is not None:
                print("  (the baseline's server is not run on the bomb: it had no limit)")
        if "files" not in skip:
            bench_files(prefix, baseline, args.blank_mib, args.repeat, scratch)
        if "set" not in skip:
            bench_benchmark_set(prefix, baseline, args.status, args.repeat, scratch, args.scale)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
