"""HTTP load benchmark: `storemon serve` on the benchmark set, under three profiles.

Starts `storemon serve` (loopback only) on a database holding the benchmark set —
a fresh DuckDB file loaded from ../shared/data (or --data-dir), or the database
given with --db (loaded first if it has no polls) — and measures one profile:

- ``rounds`` (the default): trigger latency for a new report (distinct as_of each
  round) and for an identical trigger that reuses the job; the time from a trigger
  to the first /get_report answering 200; /get_report latency with --pollers
  keep-alive pollers (one request every --interval s each) while reports compute
  (202), when each downloads the finished CSV, then for --seconds on complete ones.
- ``mixed`` (serving while the data arrives): for --seconds, the pollers poll the
  newest report, a trigger every --trigger-every s (a new report each: a distinct
  as_of), and a batch of --batch-polls new polls posted to /ingest/status every
  --ingest-every s; p50/p95/p99 per endpoint, errors, and the server's RSS and CPU
  (with its worker processes) sampled every second.
- ``pollers``: the pollers alone on a complete report for --seconds.

Usage: python benchmarks/load.py [--profile rounds|mixed|pollers] [--db URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import multiprocessing
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _serving import Server, load_benchmark_db

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data
#: Issue "serving while the data arrives": p99 targets of the mixed profile, in ms.
MIXED_TARGETS = {"get_report": 50.0, "trigger_report": 100.0}
POLLERS_TARGET_MS = 20.0


@dataclass
class Samples:
    """Latencies in seconds by kind, and errors (non-2xx answers, failed requests) by kind."""

    values: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.values.setdefault(kind, []).append(seconds)

    def error(self, kind: str, what: str) -> None:
        with self.lock:
            self.errors.setdefault(kind, []).append(what)

    def summary(self, kind: str) -> dict[str, float]:
        data = sorted(self.values.get(kind, []))
        if not data:
            return {"n": 0}
        return {
            "n": len(data),
            "p50_ms": 1000 * percentile(data, 50),
            "p95_ms": 1000 * percentile(data, 95),
            "p99_ms": 1000 * percentile(data, 99),
            "max_ms": 1000 * data[-1],
            "mean_ms": 1000 * statistics.fmean(data),
        }

    def report(self) -> dict[str, object]:
        result: dict[str, object] = {kind: self.summary(kind) for kind in sorted(self.values)}
        result["errors"] = {
            kind: {"n": len(found), "first": sorted(set(found))[:5]}
            for kind, found in sorted(self.errors.items())
        }
        return result


def percentile(sorted_data: list[float], pct: float) -> float:
    """Nearest-rank percentile of sorted data."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_data)))
    return sorted_data[min(rank, len(sorted_data)) - 1]


class Http:
    """A keep-alive HTTP/1.1 connection (http.client: far less client CPU than httpx,
    which matters when 50 pollers share the machine with the server)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def request(
        self, method: str, path: str, body: object = None, *, raw: bytes | None = None
    ) -> tuple[int, bytes]:
        payload = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {}
        if payload is not None:
            headers["Content-Type"] = "text/csv" if raw is not None else "application/json"
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, body: object = None) -> Any:
        return json.loads(self.request(method, path, body)[1])

    def close(self) -> None:
        self.connection.close()


class Pollers:
    """N threads polling /get_report for the current report id every `interval` s
    (the ``rounds`` profile: samples by phase)."""

    def __init__(self, url: str, count: int, interval: float, samples: Samples) -> None:
        self.url = url
        self.interval = interval
        self.samples = samples
        self.report_id: str | None = None
        self.downloaded: dict[str, int] = {}
        self.steady = False  # keep downloading complete reports (phase 3)
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True) for index in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, index: int) -> None:
        done: set[str] = set()
        client = Http(self.url)
        try:
            time.sleep(self.interval * index / len(self.threads))  # spread the phases
            while not self.stop_event.is_set():
                report_id = self.report_id
                if report_id is None or (report_id in done and not self.steady):
                    time.sleep(self.interval)
                    continue
                started = time.perf_counter()
                try:
                    status, _ = client.request("GET", f"/get_report?report_id={report_id}")
                except (OSError, http.client.HTTPException) as error:
                    self.samples.error("get_report", type(error).__name__)
                    client.close()
                    client = Http(self.url)
                    time.sleep(self.interval)
                    continue
                elapsed = time.perf_counter() - started
                if status not in (200, 202):
                    self.samples.error("get_report", f"HTTP {status}")
                if status == 202:
                    self.samples.add("get_report_running", elapsed)
                elif status == 200:
                    kind = "get_report_complete_steady" if self.steady else "get_report_download"
                    self.samples.add(kind, elapsed)
                    done.add(report_id)
                    with self.lock:
                        self.downloaded[report_id] = self.downloaded.get(report_id, 0) + 1
                else:
                    self.samples.add("get_report_error", elapsed)
                time.sleep(self.interval)
        finally:
            client.close()

    def close(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=30)


def _poll_in_process(
    url: str,
    threads: int,
    interval: float,
    offset: float,
    current: Any,
    stop: Any,
    ready: Any,
    results: Any,
) -> None:
    """One client process of :class:`ProcessPollers`: ``threads`` keep-alive pollers;
    ``ready`` is told once all of them are connected."""
    samples = Samples()

    connected = threading.Barrier(threads + 1)

    def poll(index: int) -> None:
        client = Http(url)
        try:
            client.request("GET", "/healthz")  # connected (not a sample)
        finally:
            connected.wait()
        time.sleep(interval * (offset + index / threads) % interval)
        while not stop.is_set():
            report_id = current.value.decode()
            if not report_id:
                time.sleep(interval)
                continue
            started = time.perf_counter()
            try:
                status, _ = client.request("GET", f"/get_report?report_id={report_id}")
            except (OSError, http.client.HTTPException) as error:
                samples.error("get_report", type(error).__name__)
                client.close()
                client = Http(url)
            else:
                samples.add("get_report", time.perf_counter() - started)
                if status not in (200, 202):
                    samples.error("get_report", f"HTTP {status}")
            time.sleep(interval)
        client.close()

    workers = [threading.Thread(target=poll, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    connected.wait()
    ready.put(None)
    for worker in workers:
        worker.join()
    results.put((samples.values, samples.errors))


class ProcessPollers:
    """Pollers spread over client processes, so that the load generator's own GIL does
    not show up as server latency (50 threads in one process do, under load)."""

    def __init__(self, url: str, count: int, interval: float, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.current = context.Array("c", 256)
        self.stop_event = context.Event()
        self.results = context.Queue()
        ready = context.Queue()
        processes = max(1, min(processes, count))
        shares = [
            count // processes + (1 if i < count % processes else 0) for i in range(processes)
        ]
        self.processes = [
            context.Process(
                target=_poll_in_process,
                args=(
                    url,
                    share,
                    interval,
                    i / processes,
                    self.current,
                    self.stop_event,
                    ready,
                    self.results,
                ),
                daemon=True,
            )
            for i, share in enumerate(shares)
        ]
        for process in self.processes:
            process.start()
        # The load starts once every client process is up and connected: starting
        # Python processes on the server's cores would otherwise count as its latency.
        for _ in self.processes:
            ready.get(timeout=120)

    @property
    def report_id(self) -> str | None:
        return self.current.value.decode() or None

    @report_id.setter
    def report_id(self, value: str | None) -> None:
        self.current.value = (value or "").encode()

    def close(self, samples: Samples) -> None:
        self.stop_event.set()
        for _ in self.processes:
            values, errors = self.results.get(timeout=60)
            for kind, found in values.items():
                for seconds in found:
                    samples.add(kind, seconds)
            for kind, found in errors.items():
                for what in found:
                    samples.error(kind, what)
        for process in self.processes:
            process.join(timeout=30)


def latest_poll(client: Http) -> datetime:
    """The latest poll instant (the as_of of a default report)."""
    report_id = client.json("POST", "/trigger_report")["report_id"]
    wait_complete(client, report_id)
    info = client.json("GET", f"/reports/{report_id}")
    return datetime.fromisoformat(info["as_of_used"])


def wait_complete(client: Http, report_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.json("GET", f"/reports/{report_id}")
        if info["status"] == "complete":
            return
        if info["status"] == "failed":
            raise SystemExit(f"report {report_id} failed: {info['error']}")
        time.sleep(0.05)
    raise SystemExit(f"report {report_id} did not finish in {timeout} s")


def run_rounds(args: argparse.Namespace, server: Server, samples: Samples) -> None:
    """The ``rounds`` profile: see the module's docstring."""
    client = Http(server.url)
    try:
        warm_started = time.perf_counter()
        as_of_latest = latest_poll(client)
        print(
            f"warm-up report (default as_of {as_of_latest}) "
            f"{time.perf_counter() - warm_started:.2f} s",
            flush=True,
        )
        pollers = Pollers(server.url, args.pollers, args.interval, samples)
        salt = timedelta(microseconds=random.randrange(1_000_000))  # new jobs on reruns
        for round_ in range(args.rounds):
            as_of = as_of_latest - timedelta(minutes=7 * (round_ + 1)) - salt
            body = {"as_of": as_of.astimezone(UTC).isoformat()}
            started = time.perf_counter()
            report_id = client.json("POST", "/trigger_report", body)["report_id"]
            samples.add("trigger_new", time.perf_counter() - started)
            pollers.report_id = report_id
            while client.request("GET", f"/get_report?report_id={report_id}")[0] == 202:
                time.sleep(0.005)
            samples.add("trigger_to_complete", time.perf_counter() - started)
            for _ in range(10):
                started = time.perf_counter()
                client.request("POST", "/trigger_report", body)
                samples.add("trigger_reused", time.perf_counter() - started)
            deadline = time.monotonic() + 10
            while pollers.downloaded.get(report_id, 0) < args.pollers:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        pollers.steady = True
        time.sleep(args.seconds)
        pollers.close()
    finally:
        client.close()


def run_pollers(args: argparse.Namespace, server: Server, samples: Samples) -> None:
    """The ``pollers`` profile: the pollers alone on one complete report."""
    client = Http(server.url)
    try:
        report_id = client.json("POST", "/trigger_report")["report_id"]
        wait_complete(client, report_id)
    finally:
        client.close()
    pollers = ProcessPollers(server.url, args.pollers, args.interval, args.client_processes)
    pollers.report_id = report_id
    time.sleep(args.seconds)
    pollers.close(samples)


def status_batches(data_dir: Path, count: int, after: datetime) -> Iterator[bytes]:
    """Endless CSV batches of ``count`` new polls (one per store, an hour apart per batch),
    as an hourly feed would bring them; the stores are the benchmark set's."""
    import pyarrow.csv

    table = pyarrow.csv.read_csv(
        data_dir / "store_status.csv.gz",
        convert_options=pyarrow.csv.ConvertOptions(
            include_columns=["store_id"], column_types={"store_id": "string"}
        ),
    )
    stores = sorted(set(table.column("store_id").to_pylist()))[:count]
    stores = (stores * (count // max(len(stores), 1) + 1))[:count]
    rng = random.Random(13)
    hour = 0
    while True:
        hour += 1
        base = after + timedelta(hours=hour)
        lines = ["store_id,status,timestamp_utc"]
        for index, store in enumerate(stores):
            at = base + timedelta(seconds=index % 3600)
            status = "active" if rng.random() < 0.9 else "inactive"
            lines.append(f"{store},{status},{at.strftime('%Y-%m-%d %H:%M:%S.%f')} UTC")
        yield ("\n".join(lines) + "\n").encode()


class Sampler:
    """The server's RSS and CPU (its worker processes included), every second (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.series: list[dict[str, float]] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _tree(self) -> list[int]:
        pids, found = [self.pid], []
        while pids:
            pid = pids.pop()
            found.append(pid)
            with contextlib.suppress(OSError):  # children of every thread of the process
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids.extend(int(child) for child in (task / "children").read_text().split())
        return found

    def _read(self) -> tuple[float, float]:
        rss = cpu = 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        for pid in self._tree():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
                cpu += (int(stat[11]) + int(stat[12])) / ticks
                rss += int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
        return rss, cpu

    def _run(self) -> None:
        started = time.monotonic()
        _, cpu_before = self._read()
        while not self.stop_event.wait(1.0):
            rss, cpu = self._read()
            self.series.append(
                {
                    "t_s": round(time.monotonic() - started, 1),
                    "rss_mb": round(rss / 2**20, 1),
                    "cpu_pct": round(100 * (cpu - cpu_before), 1),
                }
            )
            cpu_before = cpu

    def close(self) -> dict[str, object]:
        self.stop_event.set()
        self.thread.join(timeout=5)
        rss = [point["rss_mb"] for point in self.series] or [0.0]
        cpu = [point["cpu_pct"] for point in self.series] or [0.0]
        return {
            "rss_mb": {"min": min(rss), "max": max(rss), "last": rss[-1]},
            "cpu_pct": {"mean": round(statistics.fmean(cpu), 1), "max": max(cpu)},
            "series": self.series,
        }


def run_mixed(args: argparse.Namespace, server: Server, samples: Samples) -> dict[str, object]:
    """The ``mixed`` profile: pollers, a trigger per second and an ingest every 5 s."""
    client = Http(server.url)
    try:
        as_of_latest = latest_poll(client)
    finally:
        client.close()
    # Made before the load starts: building them would stall the client, not the server.
    batches = status_batches(args.data_dir, args.batch_polls, as_of_latest)
    ready = [next(batches) for _ in range(int(args.seconds / args.ingest_every) + 2)]
    stop = threading.Event()
    pollers = ProcessPollers(server.url, args.pollers, args.interval, args.client_processes)

    def every(seconds: float, work: Callable[[Http, int], None]) -> threading.Thread:
        def loop() -> None:
            connection = Http(server.url)
            tick = 0
            next_at = time.monotonic()
            while not stop.is_set():
                try:
                    work(connection, tick)
                except (OSError, http.client.HTTPException) as error:
                    samples.error(work.__name__, type(error).__name__)
                    connection.close()
                    connection = Http(server.url)
                tick += 1
                next_at += seconds
                stop.wait(max(0.0, next_at - time.monotonic()))
            connection.close()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    salt = timedelta(microseconds=random.randrange(1_000_000))

    ingesting: list[tuple[float, float]] = []  # (start, end) of each ingest
    triggers: list[tuple[float, float]] = []  # (start, end) of each trigger

    def trigger_report(connection: Http, tick: int) -> None:
        as_of = as_of_latest - timedelta(seconds=61 * (tick + 1)) - salt  # a new report
        started = time.perf_counter()
        status, body = connection.request(
            "POST", "/trigger_report", {"as_of": as_of.astimezone(UTC).isoformat()}
        )
        ended = time.perf_counter()
        samples.add("trigger_report", ended - started)
        triggers.append((started, ended))
        if status != 200:
            samples.error("trigger_report", f"HTTP {status}")
            return
        pollers.report_id = json.loads(body)["report_id"]

    def ingest_status(connection: Http, tick: int) -> None:
        batch = ready[tick % len(ready)]
        fresh = Http(server.url)  # a batch job connects anew (the last one idled out)
        try:
            started = time.perf_counter()
            status, _ = fresh.request("POST", "/ingest/status?name=batch.csv", raw=batch)
            ended = time.perf_counter()
            samples.add("ingest_status", ended - started)
            ingesting.append((started, ended))
        finally:
            fresh.close()
        if status != 200:
            samples.error("ingest_status", f"HTTP {status}")

    sampler = Sampler(server.process.pid)
    threads = [every(args.trigger_every, trigger_report), every(args.ingest_every, ingest_status)]
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    pollers.close(samples)
    for started, ended in triggers:  # which triggers overlapped an ingest
        overlapped = any(begin < ended and started < end for begin, end in ingesting)
        kind = "trigger_report_during_ingest" if overlapped else "trigger_report_between"
        samples.add(kind, ended - started)
    return sampler.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--profile", choices=("rounds", "mixed", "pollers"), default="rounds")
    parser.add_argument(
        "--db",
        help="database URL; loaded with the benchmark set if it has no polls "
        "(default: a fresh DuckDB file in a temporary directory)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help="benchmark data directory"
    )
    parser.add_argument("--pollers", type=int, default=50, help="concurrent pollers (max 200)")
    parser.add_argument(
        "--interval", type=float, default=0.1, help="seconds between a poller's requests"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds: reports triggered")
    parser.add_argument(
        "--seconds",
        type=float,
        help="rounds: steady polling of a complete report (default 5); "
        "mixed and pollers: how long (default 60)",
    )
    parser.add_argument(
        "--trigger-every", type=float, default=1.0, help="mixed: seconds between triggers"
    )
    parser.add_argument(
        "--ingest-every", type=float, default=5.0, help="mixed: seconds between ingests"
    )
    parser.add_argument(
        "--batch-polls", type=int, default=13_559, help="mixed: polls in each ingested batch"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="STOREMON_REPORT_WORKERS of the server"
    )
    parser.add_argument(
        "--client-processes",
        type=int,
        default=5,
        help="mixed and pollers: client processes the pollers are spread over",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    parser.add_argument(
        "--server-log-level",
        default="warning",
        help="the server's --log-level (info shows each slow trigger's steps)",
    )
    args = parser.parse_args()
    args.pollers = max(1, min(args.pollers, 200))
    args.rounds = max(1, min(args.rounds, 50))
    default_seconds = 5.0 if args.profile == "rounds" else 60.0
    args.seconds = max(0.0, min(args.seconds or default_seconds, 600.0))
    with tempfile.TemporaryDirectory(prefix="storemon-load-") as tmp:
        workdir = Path(tmp)
        db_url = args.db or f"duckdb:///{workdir / 'load.duckdb'}"
        load_benchmark_db(db_url, args.data_dir)
        load_before = os.getloadavg()
        server = Server(
            db_url,
            workdir,
            env={"STOREMON_REPORT_WORKERS": str(args.workers)},
            args=("--log-level", args.server_log_level),
            start_seconds=60,
        )
        samples = Samples()
        extra: dict[str, object] = {}
        try:
            if args.profile == "mixed":
                extra["server"] = run_mixed(args, server, samples)
            elif args.profile == "pollers":
                run_pollers(args, server, samples)
            else:
                run_rounds(args, server, samples)
        finally:
            server.stop()
            if args.server_log:
                shutil.copyfile(workdir / "server.log", args.server_log)
    result: dict[str, object] = {
        "profile": args.profile,
        "db": db_url.split("://", 1)[0],
        "pollers": args.pollers,
        "interval_s": args.interval,
        "workers": args.workers,
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        **samples.report(),
        **extra,
    }
    shown = {key: value for key, value in result.items() if key != "server"}
    if "server" in extra:  # the per-second series goes to --json only
        server_figures = extra["server"]
        assert isinstance(server_figures, dict)
        shown["server"] = {key: value for key, value in server_figures.items() if key != "series"}
    print(json.dumps(shown, indent=2))
    verdicts(args.profile, result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def verdicts(profile: str, result: dict[str, Any]) -> None:
    """One line per target: the figure, the target, ok or MISSED."""
    lines: list[tuple[str, float, str, float]] = []
    if profile == "mixed":
        for kind, target in MIXED_TARGETS.items():
            lines.append(
                (f"{kind} p99", result.get(kind, {}).get("p99_ms", math.nan), "ms", target)
            )
        errors = sum(found["n"] for found in result["errors"].values())
        lines.append(("errors", float(errors), "", 0.5))
    elif profile == "pollers":
        value = result.get("get_report", {}).get("p99_ms", math.nan)
        lines.append(("get_report p99", value, "ms", POLLERS_TARGET_MS))
    else:
        value = result.get("trigger_new", {}).get("p99_ms", math.nan)
        lines.append(("trigger_new p99", value, "ms", 50.0))
        value = result.get("get_report_running", {}).get("p99_ms", math.nan)
        lines.append(("get_report (202) p99", value, "ms", POLLERS_TARGET_MS))
        value = result.get("trigger_to_complete", {}).get("max_ms", math.nan) / 1000
        lines.append(("trigger to complete max", value, "s", 2.0))
    for name, value, unit, target in lines:
        verdict = "ok" if value < target else "MISSED"
        print(f"{name:24s} {value:9.2f} {unit:3s} target < {target:g}: {verdict}")


if __name__ == "__main__":
    main()
