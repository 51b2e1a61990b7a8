"""The OpenAPI document as this app really behaves.

FastAPI builds it from the routes; the routers refine what their signatures cannot
say; and this adds what depends on the settings: with
``STOREMON_API_TOKEN`` set, the bearer scheme (so Swagger UI shows "Authorize"),
the requirement on every operation but the open ones, and their 401 answer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["BEARER_SCHEME", "openapi_builder"]

BEARER_SCHEME: Final = "bearerToken"
_UNAUTHORIZED: Final = {
    "description": "Missing or wrong bearer token.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


def openapi_builder(
    app: FastAPI,
    *,
    token_required: bool,
    open_paths: Collection[str],
    refinements: Iterable[Callable[[dict[str, Any]], None]] = (),
) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: the document, built once; ``refinements`` (from the routers)
    state what FastAPI cannot infer from the signatures."""
    refine = tuple(refinements)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for refinement in refine:
            refinement(document)
        if token_required:
            components = document.setdefault("components", {})
            components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {
                "type": "http",
                "scheme": "bearer",
                "description": "The server's STOREMON_API_TOKEN.",
            }
            for path, item in document.get("paths", {}).items():
                if path in open_paths:
                    continue
                for operation in item.values():
                    operation["security"] = [{BEARER_SCHEME: []}]
                    operation.setdefault("responses", {})["401"] = _UNAUTHORIZED
        app.openapi_schema = document
        return document

    return openapi
