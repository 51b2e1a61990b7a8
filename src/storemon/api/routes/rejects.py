"""``GET /rejects``: the rejected rows stored by every ingest, newest first, paged."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from storemon.api.deps import ServicesDep
from storemon.api.errors import error_responses
from storemon.api.schemas import MAX_FILE_NAME_LENGTH, RejectedRow, RejectsPage
from storemon.schema import Source

router = APIRouter(tags=["ingest"])

#: A rejected row's raw text is shown up to this many characters (``raw_length`` tells all).
RAW_SHOWN: Final = 1000


def _row(found: dict[str, Any]) -> RejectedRow:
    raw = found.get("raw") or ""
    return RejectedRow(
        source=found["source"],
        file=found["file"],
        line=found["line"],
        reason=found["reason"],
        raw=raw[:RAW_SHOWN],
        raw_length=len(raw),
        store_id=found.get("store_id"),
        ingested_at=found["ingested_at"],
    )


@router.get(
    "/rejects",
    response_model=RejectsPage,
    responses=error_responses(422, 503),
    summary="Rejected rows",
)
async def list_rejects(
    app: ServicesDep,
    source: Source | None = Query(None, description="Only this source's rejects."),
    file: str | None = Query(
        None, max_length=MAX_FILE_NAME_LENGTH, description="Only this file's (the exact name)."
    ),
    limit: int = Query(100, ge=1, le=1000, description="Rows in this page."),
    offset: int = Query(0, ge=0, le=1_000_000_000, description="Rows to skip."),
) -> RejectsPage:
    """Rows that ingests rejected, with their file, line and reason: newest ingest first,
    then by source, file and line. ``next_offset`` is the next page's offset (null: the
    last page). What `storemon rejects` shows, while the server holds the database."""
    table = await run_in_threadpool(
        app.store.rejects, source=source, file=file, limit=limit + 1, offset=offset
    )
    rows = [_row(found) for found in table.slice(0, limit).to_pylist()]
    return RejectsPage(
        rejects=rows,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if table.num_rows > limit else None,
    )
