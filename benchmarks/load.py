"""HTTP load benchmark: trigger latency, /get_report latency under 50 pollers, time to Complete.

Starts `storemon serve` (loopback only) on a database holding the benchmark set —
a fresh DuckDB file loaded from ../shared/data (or --data-dir), or the database
given with --db (loaded first if it has no polls) — and measures:

1. trigger: latency of POST /trigger_report for a new report (distinct as_of each
   round), and of an identical trigger that reuses the job;
2. complete: time from the trigger to the first /get_report answering 200;
3. get_report under load: --pollers threads, each with its own keep-alive
   connection, polling every --interval seconds while reports compute (202
   answers) and downloading each report once it is Complete (200, the full CSV);
   then polling completed reports for --seconds (200 answers, full CSV).

Usage: python benchmarks/load.py [--db URL] [--pollers 50] [--rounds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data
TARGETS = {"trigger_ms": 50.0, "get_report_p99_ms": 20.0, "complete_s": 2.0}


@dataclass
class Samples:
    """Latencies in seconds, by kind."""

    values: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.values.setdefault(kind, []).append(seconds)

    def summary(self, kind: str) -> dict[str, float]:
        data = sorted(self.values.get(kind, []))
        if not data:
            return {"n": 0}
        return {
            "n": len(data),
            "p50_ms": 1000 * percentile(data, 50),
            "p99_ms": 1000 * percentile(data, 99),
            "max_ms": 1000 * data[-1],
            "mean_ms": 1000 * statistics.fmean(data),
        }


def percentile(sorted_data: list[float], pct: float) -> float:
    """Nearest-rank percentile of sorted data."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_data)))
    return sorted_data[min(rank, len(sorted_data)) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_benchmark_db(url: str, data_dir: Path) -> None:
    """Load the benchmark set into the database at ``url`` unless it has polls already."""
    from storemon.ingest.service import ingest
    from storemon.store import open_store

    store = open_store(url)
    try:
        if store.counts()["polls"]:
            print(f"using the data already in {url}", flush=True)
            return
        started = time.perf_counter()
        summary = ingest(
            store,
            {
                "timezones": data_dir / "timezones.csv",
                "hours": data_dir / "menu_hours.csv",
                "status": data_dir / "store_status.csv.gz",
            },
        )
        loaded = {source: part.loaded for source, part in summary.sources.items()}
        print(f"loaded {loaded} in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        store.close()


class Server:
    """`storemon serve` on a free loopback port."""

    def __init__(self, db_url: str, workdir: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("STOREMON_")}
        env["STOREMON_REPORT_WORKERS"] = str(workers)
        self.log = (workdir / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from storemon.cli import main; main()",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db",
                db_url,
                "--no-inbox",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit("server did not start within 60 s")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Http:
    """A keep-alive HTTP/1.1 connection (http.client: far less client CPU than httpx,
    which matters when 50 pollers share the machine with the server)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, body: object = None) -> Any:
        return json.loads(self.request(method, path, body)[1])

    def close(self) -> None:
        self.connection.close()


class Pollers:
    """N threads polling /get_report for the current report id every `interval` s."""

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
                status, _ = client.request("GET", f"/get_report?report_id={report_id}")
                elapsed = time.perf_counter() - started
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


def latest_poll(client: Http) -> datetime:
    """The latest poll instant (the as_of of a default report)."""
    report_id = client.json("POST", "/trigger_report")["report_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = client.json("GET", f"/reports/{report_id}")
        if info["status"] == "complete":
            return datetime.fromisoformat(info["as_of_used"])
        if info["status"] == "failed":
            raise SystemExit(f"warm-up report failed: {info['error']}")
        time.sleep(0.05)
    raise SystemExit("warm-up report did not finish in 60 s")


def run(args: argparse.Namespace, db_url: str, workdir: Path) -> dict[str, object]:
    server = Server(db_url, workdir, args.workers)
    samples = Samples()
    try:
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
    finally:
        server.stop()
    result: dict[str, object] = {
        "db": db_url.split("://", 1)[0],
        "pollers": args.pollers,
        "interval_s": args.interval,
        "rounds": args.rounds,
        "workers": args.workers,
    }
    for kind in sorted(samples.values):
        result[kind] = samples.summary(kind)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
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
    parser.add_argument("--rounds", type=int, default=5, help="reports triggered while polling")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="steady polling of a complete report"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="STOREMON_REPORT_WORKERS of the server"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.pollers = max(1, min(args.pollers, 200))
    args.rounds = max(1, min(args.rounds, 50))
    args.seconds = max(0.0, min(args.seconds, 120.0))
    with tempfile.TemporaryDirectory(prefix="storemon-load-") as tmp:
        workdir = Path(tmp)
        db_url = args.db or f"duckdb:///{workdir / 'load.duckdb'}"
        load_benchmark_db(db_url, args.data_dir)
        result = run(args, db_url, workdir)
    print(json.dumps(result, indent=2))
    checks = {
        "trigger_ms": result.get("trigger_new", {}),
        "get_report_p99_ms": result.get("get_report_running", {}),
        "complete_s": result.get("trigger_to_complete", {}),
    }
    for name, target in TARGETS.items():
        summary = checks[name]
        assert isinstance(summary, dict)
        if name == "trigger_ms":
            value, unit = summary.get("p99_ms", float("nan")), "ms (p99)"
        elif name == "get_report_p99_ms":
            value, unit = summary.get("p99_ms", float("nan")), "ms"
        else:
            value, unit = summary.get("max_ms", float("nan")) / 1000, "s (max)"
        verdict = "ok" if value < target else "MISSED"
        print(f"{name:20s} {value:8.2f} {unit:9s} target < {target:g}: {verdict}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
