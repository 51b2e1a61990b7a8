"""Content negotiation: does this request want the dashboard's HTML or the API's JSON?

A browser navigating to a page sends ``Accept: text/html,...,*/*;q=0.8``; API clients
send ``*/*`` (curl, httpx), ``application/json`` or nothing. Only a request that names
``text/html`` explicitly, at least as strongly as JSON, gets HTML; a wildcard never
does, so API clients are unaffected.
"""

from __future__ import annotations

__all__ = ["accepts_gzip", "prefers_html"]


def _weights(accept: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        weights[media] = max(weights.get(media, 0.0), quality)
    return weights


def prefers_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for HTML explicitly, and no less than for JSON."""
    if not accept:
        return False
    weights = _weights(accept)
    html = weights.get("text/html", 0.0)
    return html > 0 and html >= weights.get("application/json", 0.0)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip."""
    if not accept_encoding:
        return False
    weights = _weights(accept_encoding)
    return weights.get("gzip", weights.get("*", 0.0)) > 0
