"""FastAPI dependencies: the running app's services and the JSON bodies routes read.

Routes declare them with the ``Annotated`` aliases (``app: ServicesDep``), as the
FastAPI full-stack template does. Nothing here builds a response
(:mod:`storemon.api.responses`) or interprets a parameter (:mod:`storemon.api.params`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Final, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from storemon.api.background import BackgroundThread
from storemon.api.metrics import Metrics
from storemon.api.schemas import ReportIdRequest, ReportRequest
from storemon.config import Settings
from storemon.errors import InvalidRequest
from storemon.jobs import ReportJobs
from storemon.jobs.views import StoreReads
from storemon.store.base import Store

__all__ = [
    "ReportIdBodyDep",
    "ReportRequestBodyDep",
    "Services",
    "ServicesDep",
    "report_id_body",
    "report_request_body",
    "services",
]

Model = TypeVar("Model", bound=BaseModel)

_EXAMPLES: Final[dict[type[BaseModel], str]] = {
    ReportRequest: '{"as_of": "2023-01-25 18:00:00 UTC"}',
    ReportIdRequest: '{"report_id": "<the id /trigger_report returned>"}',
}


@dataclass(frozen=True)
class Services:
    """The objects a running app serves from (``app.state.services``)."""

    settings: Settings
    store: Store
    jobs: ReportJobs
    metrics: Metrics
    ingests: BackgroundThread  # where ingests run, one at a time
    store_reads: StoreReads = field(default_factory=StoreReads)  # one store's inputs


async def services(request: Request) -> Services:
    """The app's services (set up by its lifespan).

    ``async`` on purpose: FastAPI runs plain ``def`` dependencies in a worker
    thread, a thread hop on every request for a dictionary look-up.
    """
    found = getattr(request.app.state, "services", None)
    if not isinstance(found, Services):
        raise RuntimeError("the app is not started: use it inside its lifespan")
    return found


async def _json_body(request: Request, model: type[Model]) -> Model | None:
    """The request body as ``model``, or None when empty.

    Any content type is accepted as long as the bytes are JSON: plain ``curl -d``
    sends JSON labelled as a form.
    """
    raw = await request.body()
    if not raw.strip():
        return None
    example = _EXAMPLES.get(model, "{}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidRequest(
            f"the request body is not valid JSON ({error}); send a JSON object such as "
            f"{example} or no body at all"
        ) from None
    except RecursionError:  # '[' x 200,000: the parser's recursion limit, not a server fault
        raise InvalidRequest(
            f"the request body is JSON nested too deeply; send a flat JSON object such as {example}"
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = [
            {**item, "loc": ("body", *item["loc"])}
            for item in error.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None


async def report_request_body(request: Request) -> ReportRequest | None:
    """The optional JSON body of a report trigger (``as_of``, ``interpolation``)."""
    return await _json_body(request, ReportRequest)


async def report_id_body(request: Request) -> ReportIdRequest | None:
    """The optional JSON body of ``/get_report`` (``report_id``, ``format``)."""
    return await _json_body(request, ReportIdRequest)


ServicesDep = Annotated[Services, Depends(services)]
ReportRequestBodyDep = Annotated[ReportRequest | None, Depends(report_request_body)]
ReportIdBodyDep = Annotated[ReportIdRequest | None, Depends(report_id_body)]
