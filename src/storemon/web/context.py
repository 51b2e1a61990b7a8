"""What every page's layout needs to know about the app: auth on or off, data freshness."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from storemon.api.deps import Services

__all__ = ["Freshness", "PageApp", "page_app"]


@dataclass(frozen=True)
class Freshness:
    latest_poll: str | None  # ISO 8601 UTC, as the API writes it
    last_ingest: str | None = None


@dataclass(frozen=True)
class PageApp:
    auth: bool  # whether the server wants a token (a sign-out button then)
    freshness: Freshness | None


def _iso(moment: object) -> str | None:
    from datetime import datetime

    if not isinstance(moment, datetime):
        return None
    return moment.isoformat().replace("+00:00", "Z")


async def page_app(app: Services, *, freshness: Freshness | None = None) -> PageApp:
    """The layout's view of the app; reads the latest poll unless ``freshness`` is given."""
    if freshness is None:
        latest = await run_in_threadpool(app.store.latest_poll_utc)
        freshness = Freshness(latest_poll=_iso(latest)) if latest is not None else None
    return PageApp(auth=bool(app.settings.api_token), freshness=freshness)
