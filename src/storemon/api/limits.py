"""Request limits inside the app: the body size (enforced while the body streams in)
and how many requests are answered at once. The server's own limits on slow and
idle connections are in :mod:`storemon.api.serving`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storemon.api.errors import error_response

#: A scope key set on the requests a dashboard page makes to the API in process: they
#: are part of the page's request, already counted and holding its concurrency slot.
INNER_REQUEST: Final = "storemon.inner_request"

__all__ = ["BodyLimitMiddleware", "BodyTooLarge", "ConcurrencyLimitMiddleware"]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the body passes the limit.

    An HTTPException, so FastAPI's body reading lets it through and the API's
    handler renders it in the error shape.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"request body is larger than {limit} bytes; send a smaller file or raise "
            "STOREMON_MAX_BODY_BYTES",
        )


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before any byte is read;
    otherwise (chunked uploads, lying clients) bytes are counted as they arrive and
    reading stops at the first chunk past the limit — the body is never buffered here.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLarge(self.max_bytes)
        response = error_response(
            413, str(error.detail), "body_too_large", headers={"Connection": "close"}
        )
        await response(scope, receive, send)


class ConcurrencyLimitMiddleware:
    """503 (error shape, ``Retry-After: 1``) beyond ``max_requests`` requests at once.

    ``open_paths`` (the cheap operational endpoints) are always answered, so that
    monitoring still sees a server that is saturated. Runs on the event loop only.
    """

    def __init__(
        self, app: ASGIApp, *, max_requests: int, open_paths: Collection[str] = ()
    ) -> None:
        self.app = app
        self.max_requests = max_requests
        self.open_paths = frozenset(open_paths)
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        passes = scope["type"] != "http" or scope["path"] in self.open_paths
        if passes or scope.get(INNER_REQUEST):
            await self.app(scope, receive, send)
            return
        if self.active >= self.max_requests:
            response = error_response(
                503,
                f"the server is answering {self.max_requests} requests at once, its limit "
                "(STOREMON_HTTP_MAX_CONCURRENT_REQUESTS); try again in a second",
                "server_busy",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
