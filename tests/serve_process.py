"""`storemon serve` in a child process, for the end-to-end and the browser tests.

The server listens on a free loopback port with no inbox and no access log, and sees
none of this shell's ``STOREMON_`` settings, only those given; its output is appended
to ``server.log`` in its working directory, which a failure shows.
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

import httpx
import pytest

START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`storemon serve --db DB_URL` in ``workdir``; ``token`` its API token (None: none)."""

    def __init__(
        self,
        db_url: str,
        workdir: Path,
        *,
        token: str | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.db_url = db_url
        self.workdir = workdir
        self.token = token
        self.extra_env = dict(env or {})
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"
        self.url = ""

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process (without waiting for it to answer)."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("STOREMON_")}
        if self.token:
            env["STOREMON_API_TOKEN"] = self.token
        env.update(self.extra_env)
        command = [
            sys.executable,
            "-c",
            "from storemon.cli import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            self.db_url,
            "--no-inbox",
            "--no-access-log",
            *self.args,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self) -> None:
        """Wait until /healthz answers (the process having been launched)."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited at start-up:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        pytest.fail(f"the server did not answer within {START_TIMEOUT} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """SIGINT, as Ctrl-C: the server must stop within 15 s, with exit status 0."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the server did not stop on SIGINT:\n{self.log.read_text()}")
        finally:
            self.process = None
        assert code == 0, self.log.read_text()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown code runs."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=15)
        self.process = None

    def client(self, timeout: float = 10.0) -> httpx.Client:
        """An HTTP client of the server, with its token when it has one."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
