"""The dashboard's own URLs."""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["store_url"]


def store_url(store_id: str) -> str:
    """The store page of ``store_id`` (any id: ``/``, ``%``, spaces and unicode are encoded)."""
    return "/ui/stores/" + quote(store_id, safe="")
