"""The dashboard's pages: fleet at ``/`` (for browsers), a store, ingest; the static files."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from storemon.api.deps import Services, services
from storemon.web.assets import STATIC_PREFIX
from storemon.web.context import page_app
from storemon.web.negotiation import prefers_html
from storemon.web.render import ASSETS, html_response, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_SOURCES = (
    ("status", "Polls (store_id, status, timestamp_utc)"),
    ("hours", "Business hours (store_id, dayOfWeek, start_time_local, end_time_local)"),
    ("timezones", "Timezones (store_id, timezone_str)"),
)


@router.get("/")
async def fleet_page(request: Request, app: Services = Depends(services)) -> Response:
    """The fleet overview, for a browser; any other client gets the API's 404 as before."""
    if not prefers_html(request.headers.get("accept")):
        raise HTTPException(404, "Not Found")
    from storemon.web.fleet import fleet_view

    view = await fleet_view(request, app, request.query_params)
    layout = await page_app(app)
    body = await run_in_threadpool(
        render, "fleet.html", title="Fleet", nav="fleet", app=layout, view=view
    )
    return await run_in_threadpool(html_response, request, body)


@router.get("/ui/ingest")
async def ingest_page(request: Request, app: Services = Depends(services)) -> Response:
    body = render(
        "ingest.html",
        title="Ingest",
        nav="ingest",
        app=await page_app(app),
        sources=_SOURCES,
        base_url=str(request.base_url),
        rejects_api=_rejects_api(request),
    )
    return html_response(request, body)


def _rejects_api(request: Request) -> str:
    """``/rejects`` when the API has it (the page then lists every rejected row)."""
    paths = request.app.openapi().get("paths", {})  # built once, then cached by the app
    return "/rejects" if "/rejects" in paths else ""


@router.get(STATIC_PREFIX + "{name:path}")
async def static_file(name: str, request: Request) -> Response:
    asset = ASSETS.get(name)
    if asset is not None and request.headers.get("if-none-match") == f'"{asset.digest}"':
        return Response(status_code=304, headers={"ETag": f'"{asset.digest}"'})
    return ASSETS.response(
        name,
        accept_encoding=request.headers.get("accept-encoding"),
        version=request.query_params.get("v"),
    )
