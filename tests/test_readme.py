"""Every shell block of the README runs as printed, on a fresh checkout's layout.

Each ```sh block is run by bash in a fresh directory (``src`` linked there, as in a
clone; no ``STOREMON_`` variable set), except what a comment line before the block
says otherwise:

- ``<!-- readme-test: not run here: REASON -->``: not run (the reason must be given);
- ``<!-- readme-test: server -->``: run against `storemon serve` on the demo data, as
  ``make run`` serves it (its port in place of 8080); a block that runs `storemon demo`
  gets a copy of that database, as the README says;
- ``<!-- readme-test: make-dry-run: ... -->``: every ``make`` target is checked with
  ``make -n``.

Blocks whose lines start with ``$ `` are transcripts: each command's output must be
the printed one (report ids map to the ids the server gave). The one PostgreSQL URL
of the README is replaced by a fresh test database.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent
README_PG = "postgresql://postgres@127.0.0.1:5432/storemon"
_BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<directive>[^\n]*?) -->\n)?```sh\n(?P<body>.*?)```", re.S
)
_REPORT_ID = re.compile(r'"report_id": ?"([A-Za-z0-9_-]+)"')


@dataclass(frozen=True)
class Block:
    line: int
    directive: str
    body: str

    @property
    def id(self) -> str:
        return f"line {self.line}"


def _blocks() -> list[Block]:
    return [
        Block(README[: m.start("body")].count("\n") + 1, m.group("directive") or "", m["body"])
        for m in _BLOCK.finditer(README)
    ]


BLOCKS = _blocks()


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("STOREMON_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("COLUMNS", None)
    return env


def _clone_like(folder: Path) -> Path:
    """A working directory with the checkout's ``src`` in it, as in a fresh clone."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "src").symlink_to(ROOT / "src")
    return folder


def _bash(script: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class DemoServer:
    port: int
    database: Path  # a copy of the served demo database, for the CLI blocks
    ids: dict[str, str]  # report id printed in the README -> id the server gave


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """`make run`: `storemon demo`, then `storemon serve` on the demo database."""
    folder = _clone_like(tmp_path_factory.mktemp("make-run"))
    loaded = _bash("storemon demo", folder)
    assert loaded.returncode == 0, loaded.stderr
    copy = tmp_path_factory.mktemp("demo-copy") / "storemon.duckdb"
    shutil.copyfile(folder / "storemon.duckdb", copy)
    port = _free_port()
    log = (folder / "serve.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "storemon"), "serve", "--port", str(port), "--no-inbox"],
        cwd=folder,
        env=_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, (folder / "serve.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield DemoServer(port, copy, {})
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        finally:
            server.kill()
            server.wait()
            log.close()


def _transcript(body: str) -> list[tuple[str, list[str]]]:
    """``$ command`` lines with the output lines printed under each."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line)
    return steps


def _run_transcript(body: str, cwd: Path, demo: DemoServer) -> None:
    for command, printed in _transcript(body):
        for readme_id, real_id in demo.ids.items():
            command = command.replace(readme_id, real_id)
        command = command.replace("127.0.0.1:8080", f"127.0.0.1:{demo.port}")
        deadline = time.monotonic() + 60
        while True:  # a report may still be running: poll as a person would
            done = _bash(command, cwd)
            got = done.stdout.splitlines()
            expected = list(printed)
            for readme_id, real in zip(
                _REPORT_ID.findall("\n".join(printed)),
                _REPORT_ID.findall(done.stdout),
                strict=False,
            ):
                demo.ids[readme_id] = real
                expected = [line.replace(readme_id, real) for line in expected]
            if got == expected or time.monotonic() > deadline or "Running" not in done.stdout:
                break
            time.sleep(0.2)
        assert done.returncode == 0, (command, done.stderr)
        assert got == expected, command


def test_the_readme_has_shell_blocks_and_each_is_tested() -> None:
    assert len(BLOCKS) >= 6
    for block in BLOCKS:
        kind = block.directive.split(":", 1)[0]
        assert kind in ("", "server", "not run here", "make-dry-run"), block.id
        if kind == "not run here":
            assert len(block.directive) > len("not run here: ") + 20, "say why"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.directive == "server"], ids=lambda b: b.id
)
def test_server_block_runs_as_printed(block: Block, demo: DemoServer, tmp_path: Path) -> None:
    assert block.body.startswith("$ ")
    folder = _clone_like(tmp_path / "client")
    if "storemon demo" in block.body:  # the CLI on the database `make run` made
        shutil.copyfile(demo.database, folder / "storemon.duckdb")
    _run_transcript(block.body, folder, demo)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.directive == ""], ids=lambda b: b.id)
def test_shell_block_runs_as_printed(
    block: Block, demo: DemoServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    folder = _clone_like(tmp_path / "clone")
    body = block.body
    if "storemon demo" in body:  # on the database `make run` made, as the README says
        shutil.copyfile(demo.database, folder / "storemon.duckdb")
    if README_PG in body:
        body = body.replace(README_PG, str(request.getfixturevalue("pg_url")))
    done = _bash(body, folder)
    assert done.returncode == 0, f"README {block.id}:\n{body}\n{done.stderr}"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.directive.startswith("make-dry-run")], ids=lambda b: b.id
)
def test_make_targets_exist(block: Block) -> None:
    targets = [line.split()[1] for line in block.body.splitlines() if line.startswith("make ")]
    assert targets
    for target in targets:
        done = subprocess.run(
            ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (target, done.stderr)
