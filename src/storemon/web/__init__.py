"""The dashboard: HTML pages and static files served by the API's own app.

:func:`install_web` adds the pages (fleet at ``/`` for browsers, ``/ui/...``), the
static files (``/ui/static/...``, vendored libraries included) and ``/docs`` with a
local Swagger UI. With a token configured, the API's auth middleware takes
:data:`OPEN_PATHS`, :data:`OPEN_PREFIXES` and :func:`login_challenge` from here.
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI

from storemon.web import docs_page, pages, session, store_page
from storemon.web.assets import STATIC_PREFIX
from storemon.web.session import login_challenge

__all__ = ["OPEN_PATHS", "OPEN_PREFIXES", "install_web", "login_challenge"]

#: Served without a token: the login page. Static files hold no data.
OPEN_PATHS: Final = session.OPEN_PATHS
OPEN_PREFIXES: Final = (STATIC_PREFIX,)


def install_web(app: FastAPI) -> None:
    """Add the dashboard's routes and ``/docs`` to ``app`` (created with ``docs_url=None``)."""
    for router in (pages.router, store_page.router, session.router, docs_page.router):
        app.include_router(router)
