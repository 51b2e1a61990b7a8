"""``POST /ingest/{source}``: a CSV file as the request body, validated and stored."""

from __future__ import annotations

import tempfile
import time
from typing import IO, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from storemon.api.deps import Services, services
from storemon.api.errors import ERROR_RESPONSES, ErrorBody
from storemon.errors import IngestError, InvalidRequest
from storemon.ingest.service import ingest
from storemon.schema import Source

router = APIRouter(tags=["ingest"])

#: Body bytes held in memory while it arrives; a larger body goes to a temporary file.
_SPOOL_BYTES: Final = 8 << 20

_EXAMPLE = {
    "status": {
        "file": "status.csv",
        "rows": 3,
        "loaded": 2,
        "rejected": 1,
        "rejects": [{"line": 4, "reason": "unknown status 'actve' (expected active or inactive)"}],
        "warnings": [],
    }
}


@router.post(
    "/ingest/{source}",
    response_model=None,
    responses={
        **ERROR_RESPONSES,
        200: {
            "description": "What was read, loaded and rejected (the CLI's `--json` summary).",
            "content": {"application/json": {"example": _EXAMPLE}},
        },
        400: {"model": ErrorBody, "description": "Empty body, or not a readable CSV file."},
        413: {
            "model": ErrorBody,
            "description": "Body over STOREMON_MAX_BODY_BYTES, or its text (unpacked) over "
            "STOREMON_MAX_DECOMPRESSED_BYTES.",
        },
        422: {
            "model": ErrorBody,
            "description": "The header lacks a required column, or every row was rejected "
            "(the first reasons in `details`); nothing was stored.",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    summary="Ingest one CSV file",
)
async def ingest_file(
    request: Request,
    source: Source = Path(description="`status` (polls), `hours` or `timezones`."),
    name: str | None = Query(
        None, max_length=255, description="File name used in messages (default <source>.csv)."
    ),
    app: Services = Depends(services),
) -> JSONResponse:
    """Validate the CSV body (plain or gzip) and store its valid rows in one transaction.

    Bad rows are rejected and reported with their line numbers; the rest is stored.
    A file whose header lacks a required column, or whose rows are all rejected, is
    refused as a whole (422) and the database is left as it was. The body is read in
    bounded batches (held on disk past a few MiB), its text limited to
    STOREMON_MAX_DECOMPRESSED_BYTES (413 beyond).
    """
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as body:
        size = await _receive(request, body)
        if not size:
            raise InvalidRequest(
                f"the request body is empty: send the {source} CSV file as the body, e.g. "
                f"curl --data-binary @{source}.csv -H 'Content-Type: text/csv' "
                f".../ingest/{source}"
            )
        body.seek(0)
        file_name = name or f"{source}.csv"
        started = time.perf_counter()
        try:
            summary = await run_in_threadpool(
                ingest,
                app.store,
                {source: body},
                names={source: file_name},
                max_decompressed_bytes=app.settings.max_decompressed_bytes,
            )
        except IngestError:
            app.metrics.ingest_refused.inc(source)
            raise
    part = summary.sources[source]
    app.metrics.ingest_finished(
        source,
        seconds=time.perf_counter() - started,
        loaded=part.loaded,
        rejected=part.rejected,
    )
    return JSONResponse(summary.to_json())


async def _receive(request: Request, body: IO[bytes]) -> int:
    """Copy the request body into ``body`` as it arrives; its size."""
    size = 0
    async for chunk in request.stream():
        if chunk:
            size += len(chunk)
            if size > _SPOOL_BYTES:  # on disk by now: write off the event loop
                await run_in_threadpool(body.write, chunk)
            else:
                body.write(chunk)
    return size
