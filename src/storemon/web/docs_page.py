"""``/docs``: Swagger UI from the vendored swagger-ui-dist, so it works without internet."""

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
