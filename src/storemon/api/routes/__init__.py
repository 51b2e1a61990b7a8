"""The API's routers, one module per group of endpoints.

A new group is a module here with a ``router`` (an ``APIRouter`` with its tags),
added to :data:`ROUTERS`; routes take their services with ``app: ServicesDep``
(:mod:`storemon.api.deps`) and build answers with :mod:`storemon.api.responses`.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from storemon.api.routes import ingest, insight, legacy, ops, rejects, reports

__all__ = ["ROUTERS"]

#: Included in this order (the order of /docs).
ROUTERS: Final[tuple[APIRouter, ...]] = (
    legacy.router,
    reports.router,
    insight.router,
    ingest.router,
    rejects.router,
    ops.router,
)
