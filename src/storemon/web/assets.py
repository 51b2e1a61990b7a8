"""The dashboard's static files (own and vendored), served from the installed package.

Every file under ``static/`` is read once, on first request, and kept in memory with
its gzip form (text types) and a content hash. Pages link to ``/ui/static/<name>?v=<hash>``
(:meth:`Assets.url`), so a file can be cached for a year and a new release is fetched at
once; a request for a file that is not there is an ordinary 404.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from starlette.exceptions import HTTPException
from starlette.responses import Response

from storemon.web.negotiation import accepts_gzip

__all__ = ["STATIC_DIR", "STATIC_PREFIX", "Asset", "Assets"]

STATIC_DIR: Final = Path(__file__).parent / "static"
STATIC_PREFIX: Final = "/ui/static/"
_COMPRESSIBLE: Final = frozenset({".js", ".css", ".svg", ".json", ".txt", ".map", ".html", ""})
_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE
}
_YEAR: Final = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    """One static file in memory."""

    name: str
    content: bytes
    gzipped: bytes | None  # None when compressing does not pay (images)
    media_type: str
    digest: str  # first 16 hex digits of the SHA-256 of the content


class Assets:
    """The files under a directory, by their ``/``-separated relative name."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.root = root.resolve()
        self._cache: dict[str, Asset] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Asset | None:
        """The file ``name`` (relative, no ``..``), or None when there is none."""
        found = self._cache.get(name)
        if found is not None:
            return found
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root) or not path.is_file() or name.startswith("."):
            return None
        content = path.read_bytes()
        suffix = path.suffix.lower()
        media_type = _TYPES.get(suffix) or mimetypes.guess_type(path.name)[0]
        gzipped = gzip.compress(content, 9, mtime=0) if suffix in _COMPRESSIBLE else None
        asset = Asset(
            name=name,
            content=content,
            gzipped=gzipped if gzipped is not None and len(gzipped) < len(content) else None,
            media_type=media_type or "application/octet-stream",
            digest=hashlib.sha256(content).hexdigest()[:16],
        )
        with self._lock:
            self._cache[name] = asset
        return asset

    def url(self, name: str) -> str:
        """The versioned URL of a file; raises LookupError for a file that does not exist."""
        asset = self.get(name)
        if asset is None:
            raise LookupError(f"no static file {name!r} under {self.root}")
        return f"{STATIC_PREFIX}{name}?v={asset.digest}"

    def response(self, name: str, *, accept_encoding: str | None, version: str | None) -> Response:
        """The file as a response: gzip when the client takes it, cached long when versioned."""
        asset = self.get(name)
        if asset is None:
            raise HTTPException(404, f"no static file {name!r}")
        headers = {
            "ETag": f'"{asset.digest}"',
            "Cache-Control": _YEAR if version == asset.digest else "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        body = asset.content
        if asset.gzipped is not None and accepts_gzip(accept_encoding):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)
