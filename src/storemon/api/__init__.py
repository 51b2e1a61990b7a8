"""The HTTP API: the app factory, its routers, schemas and error shape."""

from __future__ import annotations

from storemon.api.app import create_app

__all__ = ["create_app"]
