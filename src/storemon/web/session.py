"""The dashboard's token flow: a login page that turns the API token into a cookie.

With ``STOREMON_API_TOKEN`` set, a browser that navigates to any page without the
session cookie is sent to ``/ui/login`` (:func:`login_challenge`, used by the API's
auth middleware). The login form posts the token once; the answer sets an HttpOnly,
SameSite=Strict cookie holding an HMAC of the token (never the token), which the auth
middleware accepts like the bearer header. API clients keep sending the header and
still get a 401 without it. Without a token there is nothing to log in to.
"""

from __future__ import annotations

import hmac
from typing import Final
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Scope

from storemon.api.auth import SESSION_COOKIE, session_value
from storemon.api.deps import Services, services
from storemon.web.negotiation import prefers_html
from storemon.web.render import html_response, render

__all__ = ["LOGIN_PATH", "OPEN_PATHS", "login_challenge", "router", "safe_next"]

LOGIN_PATH: Final = "/ui/login"
LOGOUT_PATH: Final = "/ui/logout"
#: Paths the auth middleware must let through without a token.
OPEN_PATHS: Final = frozenset({LOGIN_PATH})
_MAX_FORM_BYTES: Final = 8192
_COOKIE_SECONDS: Final = 30 * 24 * 3600

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this server, else ``/`` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(char) < 0x20 for char in target):
        return "/"
    return target


def login_challenge(scope: Scope) -> ASGIApp | None:
    """For a browser navigating to a page without the cookie: a redirect to the login page."""
    if scope.get("method") not in ("GET", "HEAD"):
        return None
    if not prefers_html(Headers(scope=scope).get("accept")):
        return None
    target = scope["path"]
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)


def _login_page(request: Request, *, next_path: str, error: str | None, status: int) -> Response:
    body = render("login.html", title="Sign in", next_path=next_path, error=error, app=None)
    return html_response(request, body, status_code=status)


@router.get(LOGIN_PATH)
async def login_form(request: Request, app: Services = Depends(services)) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if not app.settings.api_token:
        return RedirectResponse(next_path, status_code=303)
    return _login_page(request, next_path=next_path, error=None, status=200)


@router.post(LOGIN_PATH)
async def login(request: Request, app: Services = Depends(services)) -> Response:
    raw = await request.body()
    form = dict(parse_qsl(raw[:_MAX_FORM_BYTES].decode("utf-8", "replace")))
    next_path = safe_next(form.get("next"))
    token = app.settings.api_token
    if not token:
        return RedirectResponse(next_path, status_code=303)
    given = form.get("token", "").strip()
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        error = (
            "That is not the server's token. Enter the value of STOREMON_API_TOKEN "
            "that the server was started with."
            if given
            else "Enter the API token."
        )
        # 200, not 401: the form is shown again with the message (a browser logs a 401 as an
        # error, and this is an expected answer to a typing mistake).
        return _login_page(request, next_path=next_path, error=error, status=200)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(token),
        max_age=_COOKIE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post(LOGOUT_PATH)
async def logout(request: Request) -> Response:
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
