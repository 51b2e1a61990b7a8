"""Optional bearer-token authentication for every endpoint except the open ones.

A request is let through when it carries ``Authorization: Bearer <token>`` or the
dashboard's session cookie (:data:`SESSION_COOKIE`, set by its login page; its value is
derived from the token by :func:`session_value`, so the cookie never holds the token
itself). Otherwise the answer is a 401 in the API's error shape, unless ``challenge``
offers another (the dashboard redirects a browser to its login page).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Collection
from http.cookies import CookieError, SimpleCookie

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from storemon.api.errors import error_response

__all__ = [
    "OPEN_PATHS",
    "SESSION_COOKIE",
    "BearerAuthMiddleware",
    "Challenge",
    "session_value",
    "token_matches",
]

#: Paths served without a token: liveness probes cannot carry secrets, and a browser
#: cannot send one to open the interactive docs (whose "Authorize" then sets it for
#: every call they make). The API's description is no secret.
OPEN_PATHS: frozenset[str] = frozenset(
    {"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
#: The dashboard's session cookie (HttpOnly, SameSite=Strict).
SESSION_COOKIE = "storemon_session"
_SESSION_CONTEXT = b"storemon dashboard session v1"

#: For an unauthenticated request: an ASGI app to answer it instead of the 401, or None.
Challenge = Callable[[Scope], ASGIApp | None]


def token_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant-time compare)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def session_value(token: str) -> str:
    """The session cookie's value for ``token`` (an HMAC of it: the token stays secret)."""
    return hmac.new(token.encode(), _SESSION_CONTEXT, hashlib.sha256).hexdigest()


def _cookie_matches(cookie_header: str | None, token: str) -> bool:
    if not cookie_header or SESSION_COOKIE not in cookie_header:
        return False
    try:
        morsel = SimpleCookie(cookie_header).get(SESSION_COOKIE)
    except CookieError:
        return False
    if morsel is None:
        return False
    return hmac.compare_digest(morsel.value.encode(), session_value(token).encode())


class BearerAuthMiddleware:
    """Answer 401 (in the API's error shape) unless the request carries the token."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        open_paths: Collection[str] = OPEN_PATHS,
        open_prefixes: Collection[str] = (),
        challenge: Challenge | None = None,
    ):
        if not token:
            raise ValueError("an empty API token would accept anyone")
        self.app = app
        self.token = token
        self.open_paths = frozenset(open_paths)
        self.open_prefixes = tuple(open_prefixes)
        self.challenge = challenge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if token_matches(headers.get("authorization"), self.token) or _cookie_matches(
            headers.get("cookie"), self.token
        ):
            await self.app(scope, receive, send)
            return
        other = self.challenge(scope) if self.challenge is not None else None
        if other is not None:
            await other(scope, receive, send)
            return
        response = error_response(
            401,
            "missing or wrong API token: send the header 'Authorization: Bearer <token>' "
            "(the server's STOREMON_API_TOKEN)",
            "unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(self.open_prefixes)
