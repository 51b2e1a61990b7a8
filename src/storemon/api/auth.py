"""Optional bearer-token authentication for every endpoint except the open ones."""

from __future__ import annotations

import hmac
from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from storemon.api.errors import error_response

__all__ = ["OPEN_PATHS", "BearerAuthMiddleware"]

#: Paths served without a token: liveness probes cannot carry secrets, and a browser
#: cannot send one to open the interactive docs (whose "Authorize" then sets it for
#: every call they make). The API's description is no secret.
OPEN_PATHS: frozenset[str] = frozenset(
    {"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)


def token_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant-time compare)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


class BearerAuthMiddleware:
    """Answer 401 (in the API's error shape) unless the request carries the token."""

    def __init__(self, app: ASGIApp, *, token: str, open_paths: Collection[str] = OPEN_PATHS):
        if not token:
            raise ValueError("an empty API token would accept anyone")
        self.app = app
        self.token = token
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        if token_matches(Headers(scope=scope).get("authorization"), self.token):
            await self.app(scope, receive, send)
            return
        response = error_response(
            401,
            "missing or wrong API token: send the header 'Authorization: Bearer <token>' "
            "(the server's STOREMON_API_TOKEN)",
            "unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)
