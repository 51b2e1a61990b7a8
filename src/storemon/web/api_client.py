"""The pages read the API's JSON endpoints in process, through the app itself.

A page is a client of the JSON contract (notes: INSIGHT_API), like the browser's
scripts: it shows exactly the numbers ``/summary``, ``/stores``, ``/profile`` and the
store endpoints give, and computes none of them. The call goes through the whole ASGI
app (middleware included) without a socket; the page's own credentials (cookie or
bearer header) are passed on, so a page can show no more than its visitor may read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote, urlencode

from starlette.requests import Request
from starlette.types import Message

from storemon.api.limits import INNER_REQUEST

__all__ = ["ApiAnswer", "ApiError", "RawAnswer", "get_json", "get_raw", "store_path"]

_FORWARDED: Final = (b"cookie", b"authorization")


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: Any  # the decoded JSON
    retry_after: str | None = None

    @property
    def running(self) -> bool:
        """202: the API is computing what was asked (the fleet report); ask again."""
        return self.status == 202


class ApiError(Exception):
    """A non-2xx answer: its status and the message of the API's error shape."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def store_path(store_id: str, *parts: str) -> str:
    """``/stores/<id>/...`` with the id percent-encoded (``/``, ``%``, spaces, unicode)."""
    return "/".join(("/stores", quote(store_id, safe=""), *parts))


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


async def get_json(
    request: Request, path: str, query: Mapping[str, object] | None = None
) -> ApiAnswer:
    """``GET path?query`` on the request's app; raises :class:`ApiError` for a non-2xx answer."""
    raw = await get_raw(request, path, query)
    try:
        body = json.loads(raw.body) if raw.body else None
    except ValueError:
        body = None
    if raw.status >= 400:
        message = body.get("error") if isinstance(body, dict) else None
        code = body.get("code") if isinstance(body, dict) else None
        raise ApiError(raw.status, str(message or f"HTTP {raw.status}"), str(code or "http_error"))
    retry = next((v.decode() for k, v in raw.headers if k.lower() == b"retry-after"), None)
    return ApiAnswer(status=raw.status, body=body, retry_after=retry)


async def get_raw(
    request: Request, path: str, query: Mapping[str, object] | None = None
) -> RawAnswer:
    """``GET path?query`` on the request's app, as it answered (any status)."""
    params = {key: str(value) for key, value in (query or {}).items() if value is not None}
    query_string = urlencode(params).encode()
    headers = [(key, value) for key, value in request.scope["headers"] if key in _FORWARDED]
    headers.append((b"accept", b"application/json, text/csv"))
    raw_path = path.encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": request.scope.get("scheme", "http"),
        "server": request.scope.get("server"),
        "client": request.scope.get("client"),
        "root_path": "",
        "path": unquote(path),
        "raw_path": raw_path,
        "query_string": query_string,
        "headers": headers,
        "state": dict(request.scope.get("state", {})),
        # Part of the page's request, which was counted and holds its slot of the
        # concurrency limit: the middlewares let it through without counting it again.
        INNER_REQUEST: True,
    }
    sent = False
    status = 500
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            response_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await request.app(scope, receive, send)
    return RawAnswer(status=status, headers=response_headers, body=b"".join(chunks))
