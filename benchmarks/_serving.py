"""`storemon serve` in a child process for the HTTP benchmarks (load.py, bench_dashboard.py),
and the benchmark set loaded into its database.

The server listens on a free loopback port, with no token, no inbox and no access log,
and none of this shell's ``STOREMON_`` settings (only those given in ``env``); its output
goes to ``server.log`` in ``workdir``. :class:`Server` returns once ``/healthz`` answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`storemon serve --db DB_URL` on a free loopback port, started and answering."""

    def __init__(
        self,
        db_url: str,
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        start_seconds: float = 120.0,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
        environment.update(env or {})
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
                *args,
            ],
            cwd=workdir,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + start_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.close()
                raise SystemExit(f"the server exited; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"the server did not start within {start_seconds:.0f} s")

    def stop(self) -> None:
        """SIGINT (a graceful stop), then SIGKILL after 30 s."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def load_benchmark_db(url: str, data_dir: Path) -> None:
    """Load the benchmark set of ``data_dir`` (``store_status.csv.gz`` or ``.csv``, and
    ``menu_hours.csv`` and ``timezones.csv`` when there) into the database at ``url``,
    unless it has polls already."""
    from storemon.ingest.service import ingest
    from storemon.store import open_store

    store = open_store(url)
    try:
        if store.counts().get("polls", 0):
            print(f"using the data already in {url}", file=sys.stderr, flush=True)
            return
        status = data_dir / "store_status.csv.gz"
        if not status.exists():
            status = data_dir / "store_status.csv"
        files: dict[Any, Path] = {"status": status}
        for source, name in (("hours", "menu_hours.csv"), ("timezones", "timezones.csv")):
            if (data_dir / name).exists():
                files[source] = data_dir / name
        started = time.perf_counter()
        summary = ingest(store, files)
        loaded = {source: part.loaded for source, part in summary.sources.items()}
        print(
            f"loaded {loaded} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True
        )
    finally:
        store.close()
