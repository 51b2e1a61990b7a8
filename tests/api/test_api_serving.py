"""The server's limits on slow and idle clients, on a real uvicorn in this process.

Bounded: every timeout here is a fraction of a second, every test a few seconds.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from api_helpers import TestClient, assert_error_shape, make_settings, wait_for_report

from storemon.api import create_app
from storemon.api.serving import uvicorn_config
from storemon.store import IngestBatch, Store, open_store

HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    url: str
    port: int
    store: Store

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


@pytest.fixture
def serve(duckdb_url: str) -> Iterator[Callable[..., Running]]:
    """Start `storemon serve`'s server (uvicorn, its limits) on a thread; ``url``: the
    database (default: a DuckDB file)."""
    started: list[tuple[uvicorn.Server, threading.Thread, Store]] = []

    def start(url: str = duckdb_url, **overrides: Any) -> Running:
        store = open_store(url)
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": free_port(),
            "http_header_timeout_seconds": HEADER_TIMEOUT,
            "http_body_timeout_seconds": BODY_TIMEOUT,
            "http_keep_alive_seconds": 1,
        }
        values.update(overrides)
        settings = make_settings(db=url, **values)
        config = uvicorn_config(
            create_app(settings, store), settings, log_level="warning", access_log=False
        )
        config.log_config = None  # keep pytest's log capture
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        started.append((server, thread, store))
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            assert thread.is_alive(), "the server thread died"
            time.sleep(0.01)
        return Running(f"http://127.0.0.1:{settings.port}", settings.port, store)

    yield start
    for server, thread, store in started:
        server.should_exit = True
        thread.join(timeout=15)
        store.close()


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed (monotonic)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data, time.monotonic()


def test_clients_trickling_headers_are_bounded_in_number_and_time(
    serve: Callable[..., Running],
) -> None:
    running = serve(http_max_connections=20)
    began = time.monotonic()
    sockets = []
    for _ in range(30):
        sock = running.connect()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        sockets.append(sock)
    answers: dict[int, bytes] = {}
    answered_at: dict[int, float] = {}
    closed_at: dict[int, float] = {}
    while len(closed_at) < len(sockets) and time.monotonic() - began < 5:
        for index, sock in enumerate(sockets):
            if index in closed_at:
                continue
            sock.settimeout(0.01)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                try:  # a slow client: one more header line every round
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    closed_at[index] = time.monotonic()
                continue
            except ConnectionResetError:
                chunk = b""
            answers[index] = answers.get(index, b"") + chunk
            answered_at.setdefault(index, time.monotonic())
            if not chunk:
                closed_at[index] = time.monotonic()
        time.sleep(0.05)
    for sock in sockets:
        sock.close()
    assert len(closed_at) == 30, "some slow clients were still held after 5 s"
    refused = [i for i, data in answers.items() if data.startswith(b"HTTP/1.1 503")]
    timed_out = [i for i, data in answers.items() if data.startswith(b"HTTP/1.1 408")]
    assert len(refused) == 10
    assert len(timed_out) == 20
    assert b'"code": "too_many_connections"' in answers[refused[0]]
    assert b'"code": "request_timeout"' in answers[timed_out[0]]
    assert all(answered_at[i] - began < HEADER_TIMEOUT for i in refused)  # at once
    for index in timed_out:
        assert HEADER_TIMEOUT - 0.05 < answered_at[index] - began < HEADER_TIMEOUT + 1.5
    assert httpx.get(f"{running.url}/healthz", timeout=5).status_code == 200  # slots are free


def test_a_connection_that_sends_nothing_is_closed(serve: Callable[..., Running]) -> None:
    running = serve()
    began = time.monotonic()
    with running.connect() as sock:
        data, closed = read_until_closed(sock, timeout=5)
    assert data.startswith(b"HTTP/1.1 408")
    assert HEADER_TIMEOUT - 0.05 < closed - began < HEADER_TIMEOUT + 1.5


def test_a_stalled_body_is_cut_off_with_one_log_line(
    serve: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    running = serve()
    caplog.set_level(logging.INFO)
    began = time.monotonic()
    with running.connect() as sock:
        sock.sendall(
            b"POST /ingest/status HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n"
            b"store_id,status,timestamp_utc\n"
        )
        time.sleep(0.2)
        sock.sendall(b"S,active,2023-01-23 10:00:00 UTC\n")  # a piece restarts the clock
        _, closed = read_until_closed(sock, timeout=5)
    assert 0.2 + BODY_TIMEOUT - 0.05 < closed - began < 0.2 + BODY_TIMEOUT + 1.5
    time.sleep(0.2)  # the app sees the disconnect right after
    messages = [record.getMessage() for record in caplog.records if record.levelno >= 30]
    assert any("request body paused longer than 0.5 s" in message for message in messages)
    assert (
        "POST /ingest/status: the client disconnected before the request was complete" in messages
    )
    assert "Traceback" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    assert running.store.counts()["polls"] == 0


def test_a_client_that_disconnects_mid_upload_logs_one_line(
    serve: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(http_body_timeout_seconds=30)
    caplog.set_level(logging.INFO)
    for _ in range(20):
        with running.connect() as sock:
            sock.sendall(
                b"POST /ingest/status HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n"
                + b"x" * 5000
            )
    deadline = time.monotonic() + 5
    warnings: list[logging.LogRecord] = []
    while time.monotonic() < deadline and len(warnings) < 20:
        time.sleep(0.05)
        warnings = [record for record in caplog.records if record.levelno >= 30]
    assert [record.getMessage() for record in warnings] == [
        "POST /ingest/status: the client disconnected before the request was complete"
    ] * 20
    assert "Traceback" not in caplog.text


def test_a_request_slower_than_the_header_timeout_is_answered(
    serve: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header clock stops once the head is in: the app takes as long as it needs."""
    running = serve()
    real = running.store.list_jobs

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(HEADER_TIMEOUT * 3)
        return real(*args, **kwargs)

    monkeypatch.setattr(running.store, "list_jobs", slow)
    with httpx.Client(base_url=running.url, timeout=10) as client:
        assert client.get("/reports").status_code == 200
        assert client.get("/reports").status_code == 200  # again on the kept-alive connection


def test_an_idle_kept_alive_connection_is_closed(serve: Callable[..., Running]) -> None:
    running = serve(http_header_timeout_seconds=10)
    with running.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        began = time.monotonic()
        data, closed = read_until_closed(sock, timeout=5)
    assert data.startswith(b"HTTP/1.1 200")
    assert 0.9 < closed - began < 3.0  # STOREMON_HTTP_KEEP_ALIVE_SECONDS=1


def test_requests_beyond_the_concurrency_limit_get_503(
    client_for: Callable[..., TestClient], store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(http_max_concurrent_requests=1)
    gate, entered = threading.Event(), threading.Event()
    real = store.list_jobs

    def blocked(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "list_jobs", blocked)
    first: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: first.append(client.get("/reports")))
    thread.start()
    try:
        assert entered.wait(10)
        busy = client.get("/reports/some-id")
        body = assert_error_shape(busy, 503)
        assert body["code"] == "server_busy"
        assert "STOREMON_HTTP_MAX_CONCURRENT_REQUESTS" in body["error"]
        assert busy.headers["retry-after"] == "1"
        assert client.get("/healthz").status_code == 200  # monitoring is always answered
        assert client.get("/metrics").status_code == 200
    finally:
        gate.set()
        thread.join(10)
    assert first[0].status_code == 200
    assert client.get("/reports/some-id").status_code == 404  # a slot is free again


def _large_status_file(rows: int) -> bytes:
    lines = ["store_id,status,timestamp_utc"]
    lines.extend(
        f"s{n % 5000},{'active' if n % 7 else 'inactive'},"
        f"2023-01-{1 + n // 100_000:02d} {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}"
        for n in range(rows)
    )
    return ("\n".join(lines) + "\n").encode()


def test_requests_do_not_wait_behind_a_large_ingest(
    serve: Callable[..., Running], store_url: str
) -> None:
    """Issue "serving while the data arrives": /healthz and /get_report (from memory and
    from the database) are answered while a large ingest is stored, not after it."""
    running = serve(url=store_url)
    body = _large_status_file(1_500_000)
    with httpx.Client(base_url=running.url, timeout=60) as client:
        report_id = client.post("/trigger_report").json()["report_id"]
        assert wait_for_report(client, report_id).status_code == 200
        done = threading.Event()
        ingest: list[httpx.Response] = []
        ingest_seconds: list[float] = []

        def post() -> None:
            with httpx.Client(base_url=running.url, timeout=120) as other:
                began = time.perf_counter()
                ingest.append(other.post("/ingest/status", content=body))
                ingest_seconds.append(time.perf_counter() - began)
            done.set()

        thread = threading.Thread(target=post)
        thread.start()
        waits: list[float] = []
        while not done.is_set():
            for url in ("/healthz", f"/get_report?report_id={report_id}", "/reports/unknown"):
                began = time.perf_counter()
                response = client.get(url)
                waits.append(time.perf_counter() - began)
                assert response.status_code in (200, 404), response.text
            time.sleep(0.02)
        thread.join()
    assert ingest[0].status_code == 200, ingest[0].text
    assert ingest[0].json()["status"]["loaded"] == 1_500_000
    assert ingest_seconds[0] > 1.0, "the ingest was too quick to tell"
    assert len(waits) >= 10
    assert max(waits) < min(0.5, ingest_seconds[0] / 2), (max(waits), ingest_seconds[0])


def test_a_dashboard_page_holds_one_slot_of_the_concurrency_limit(
    client_for: Callable[..., TestClient], store: Any, tables: Any
) -> None:
    """A page's in-process calls to the API are part of its request: with a limit of one
    request at once, the fleet and store pages still render, and /metrics counts the pages
    only."""
    store.apply_ingest(IngestBatch(polls=tables.polls([("s1", "2023-01-23 10:00", True)])))
    client = client_for(http_max_concurrent_requests=1)
    html = {"accept": "text/html"}
    for path in ("/", "/ui/stores/s1"):
        page = client.get(path, headers=html)
        assert page.status_code == 200, page.text
        assert "server_busy" not in page.text
        assert "HTTP 503" not in page.text
    metrics = client.get("/metrics").text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("storemon_http_requests_total{") and 'route="/summary"' in line
    ]
    assert counted == []  # the fleet page's /summary is not a request of its own
