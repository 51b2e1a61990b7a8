"""Bearer token on every endpoint but /healthz; request bodies over the limit get 413."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anyio
import pytest
from api_helpers import TestClient, assert_error_shape
from starlette.types import Message, Scope

from storemon.api.auth import token_matches

TOKEN = "s3cret-token"
GUARDED = [
    ("POST", "/trigger_report"),
    ("GET", "/trigger_report"),
    ("GET", "/get_report?report_id=x"),
    ("POST", "/reports"),
    ("GET", "/reports"),
    ("GET", "/reports/x"),
    ("GET", "/reports/x.csv"),
    ("POST", "/ingest/status"),
    ("GET", "/metrics"),
    ("GET", "/rejects"),
    ("GET", "/no/such/route"),
]


@pytest.fixture
def guarded(client_for: Callable[..., TestClient]) -> TestClient:
    return client_for(api_token=TOKEN)


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"]
)
def test_requests_without_the_right_token_get_401(
    guarded: TestClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, url in GUARDED:
        response = guarded.request(method, url, headers=headers)
        body = assert_error_shape(response, 401)
        assert body["code"] == "unauthorized"
        assert "Authorization: Bearer" in body["error"]
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_right_token_opens_every_endpoint(guarded: TestClient) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = guarded.post("/trigger_report", headers=headers)
    assert response.status_code == 200
    report_id = response.json()["report_id"]
    assert guarded.get(f"/reports/{report_id}", headers=headers).status_code == 200
    assert guarded.get("/metrics", headers={"authorization": f"bearer {TOKEN}"}).status_code == 200


def test_healthz_needs_no_token(guarded: TestClient) -> None:
    response = guarded.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc"])
def test_the_api_description_needs_no_token(guarded: TestClient, path: str) -> None:
    """A browser cannot send the header to open Swagger UI; its Authorize button then
    sends the token with every call it makes."""
    assert guarded.get(path).status_code == 200


def test_token_comparison() -> None:
    assert token_matches(f"Bearer {TOKEN}", TOKEN)
    assert token_matches(f"bearer   {TOKEN} ", TOKEN)
    assert not token_matches(None, TOKEN)
    assert not token_matches(TOKEN, TOKEN)
    assert not token_matches(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not token_matches("Bearer é", TOKEN)


LIMIT = 2048


@pytest.fixture
def limited(client_for: Callable[..., TestClient]) -> TestClient:
    return client_for(max_body_bytes=LIMIT)


def test_declared_length_over_the_limit_is_refused_before_reading(limited: TestClient) -> None:
    body = assert_error_shape(limited.post("/ingest/status", content=b"x" * (LIMIT + 1)), 413)
    assert body["code"] == "body_too_large"
    assert str(LIMIT) in body["error"]
    assert "STOREMON_MAX_BODY_BYTES" in body["error"]


def test_chunked_body_over_the_limit_is_refused(limited: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(100):
            yield b"y" * 1024

    for url in ("/ingest/status", "/trigger_report", "/get_report", "/reports"):
        response = limited.post(url, content=chunks())
        assert "content-length" not in response.request.headers
        assert_error_shape(response, 413)


def test_the_limit_stops_reading_at_the_first_chunk_past_it(limited: TestClient) -> None:
    """At the ASGI level (TestClient buffers bodies): receive is not called again."""
    app = limited.app
    received: list[int] = []
    sent: list[Message] = []

    async def receive() -> Message:
        received.append(len(received))
        return {"type": "http.request", "body": b"z" * 1000, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ingest/status",
        "raw_path": b"/ingest/status",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }
    anyio.run(app, scope, receive, send)
    assert len(received) == 3  # 3,000 bytes > 2,048: the third chunk is the last read
    assert sent[0]["status"] == 413
    assert b"body_too_large" in b"".join(m.get("body", b"") for m in sent[1:])


def test_bodies_within_the_limit_pass(limited: TestClient) -> None:
    response = limited.post("/trigger_report", json={"interpolation": "previous"})
    assert response.status_code == 200
