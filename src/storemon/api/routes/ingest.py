"""``POST /ingest/{source}``: a CSV file as the request body, validated and stored."""

from __future__ import annotations

import time

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from storemon.api.deps import ServicesDep
from storemon.api.errors import error_responses
from storemon.api.schemas import MAX_FILE_NAME_LENGTH, IngestResponse
from storemon.errors import IngestError, InvalidRequest
from storemon.ingest.service import ingest
from storemon.schema import Source

router = APIRouter(tags=["ingest"])

_GZIP_MAGIC = b"\x1f\x8b"
_HEADER_SPAN = 64 * 1024  # a real header ends long before this


def _line_break_hint(start: bytes) -> str | None:
    """A hint for a refused body that has no line break (``curl -d @file`` strips them)."""
    head = start[:_HEADER_SPAN]
    if head.startswith(_GZIP_MAGIC) or b"\n" in head or b"\r" in head:
        return None
    return (
        "the body has no line breaks: curl -d strips them, send the file with "
        "curl --data-binary @file"
    )


_EXAMPLE = {
    "status": {
        "file": "status.csv",
        "rows": 3,
        "loaded": 2,
        "rejected": 1,
        "rejects": [{"line": 4, "reason": "unknown status 'actve' (expected active or inactive)"}],
    }
}


@router.post(
    "/ingest/{source}",
    response_model=None,
    responses={
        **error_responses(400, 413, 422, 503),
        200: {
            "model": IngestResponse,
            "description": "What was read, loaded and rejected (the CLI's `--json` summary).",
            "content": {"application/json": {"example": _EXAMPLE}},
        },
        400: {**error_responses(400)[400], "description": "Empty body, or not a CSV file."},
        422: {
            **error_responses(422)[422],
            "description": "The header lacks a required column (`missing_column`), or an "
            "unknown source or too long a name (`validation_error`).",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "One CSV file of the source (plain or gzip), validated as SPEC.md "
            "says: a header naming the source's columns, then its rows.",
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary", "minLength": 1}}
            },
        }
    },
    summary="Ingest one CSV file",
)
async def ingest_file(
    request: Request,
    app: ServicesDep,
    source: Source = Path(description="`status` (polls), `hours` or `timezones`."),
    name: str | None = Query(
        None,
        max_length=MAX_FILE_NAME_LENGTH,
        description="File name used in messages (default <source>.csv).",
    ),
) -> JSONResponse:
    """Validate the CSV body (plain or gzip) and store its valid rows in one transaction.

    Bad rows are rejected and reported with their line numbers; the rest is stored.
    A file whose header lacks a required column is refused as a whole (422) and
    the database is left as it was.
    """
    data = await request.body()
    if not data:
        raise InvalidRequest(
            f"the request body is empty: send the {source} CSV file as the body, e.g. "
            f"curl --data-binary @{source}.csv -H 'Content-Type: text/csv' .../ingest/{source}"
        )
    request.state.error_hint = _line_break_hint(data)
    file_name = name or f"{source}.csv"
    started = time.perf_counter()
    try:
        # On the niced ingest thread: never on the event loop, behind requests for the CPU.
        summary = await app.ingests.run(
            ingest, app.store, {source: data}, names={source: file_name}
        )
    except IngestError:
        app.metrics.ingest_refused_file(source)
        raise
    part = summary.sources[source]
    app.metrics.ingest_finished(
        source,
        seconds=time.perf_counter() - started,
        loaded=part.loaded,
        rejected=part.rejected,
    )
    return JSONResponse(summary.to_json())
