"""HTML responses: the Jinja templates, their helpers and the headers every page gets."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path
from typing import Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import Response

from storemon import __version__
from storemon.web import formats
from storemon.web.assets import Assets
from storemon.web.charts import DAYS, HEAT_STEPS
from storemon.web.negotiation import accepts_gzip
from storemon.web.urls import store_url

__all__ = ["ASSETS", "CSP", "html_response", "render"]

TEMPLATES: Final = Path(__file__).parent / "templates"
ASSETS: Final = Assets()
#: Scripts and styles only from this server: no inline script, no CDN.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_GZIP_FROM_BYTES: Final = 1024


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = ASSETS.url
    env.globals["version"] = __version__
    env.globals["store_url"] = store_url
    env.globals["heat_steps"] = HEAT_STEPS
    env.globals["days"] = DAYS
    env.filters.update(formats.FILTERS)
    return env


def render(template: str, **context: object) -> str:
    """The template rendered with ``context`` (autoescaped)."""
    return _environment().get_template(template).render(**context)


def html_response(
    request: Request, body: str, *, status_code: int = 200, csp: str = CSP
) -> Response:
    """An HTML page: never cached (it shows data), gzip when the client takes it."""
    content = body.encode()
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Vary": "Accept, Accept-Encoding, Cookie",
    }
    if len(content) >= _GZIP_FROM_BYTES and accepts_gzip(request.headers.get("accept-encoding")):
        content = gzip.compress(content, 6)
        headers["Content-Encoding"] = "gzip"
    return Response(
        content, status_code=status_code, media_type="text/html; charset=utf-8", headers=headers
    )
