"""``/docs`` and ``/redoc``: Swagger UI and ReDoc from their vendored npm releases, so both
work without internet."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from storemon.web.render import html_response, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

#: Swagger UI styles its widgets inline and shows data: images.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'"
)


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    """The interactive API documentation of ``/openapi.json``."""
    openapi_url = request.app.openapi_url or "/openapi.json"
    body = render("docs.html", title="storemon API", openapi_url=openapi_url)
    return html_response(request, body, csp=_DOCS_CSP)


#: ReDoc injects its styles and runs its search in a worker made from a blob.
_REDOC_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "frame-ancestors 'none'"
)


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    """The API reference of ``/openapi.json`` as one page."""
    openapi_url = request.app.openapi_url or "/openapi.json"
    body = render("redoc.html", title="storemon API reference", openapi_url=openapi_url)
    return html_response(request, body, csp=_REDOC_CSP)
