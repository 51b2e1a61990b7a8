"""The OpenAPI document tells the truth: every status an operation declares is
produced by some request here, every answer here is declared by its operation,
and its body matches the declared schema and media type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_helpers import AS_OF, TestClient, load_example, wait_for_report
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import storemon.api.errors
import storemon.api.insight_schemas
import storemon.api.schemas
from storemon.api.schemas import AS_OF_PATTERN
from storemon.errors import InvalidRequest, QueueFull, ReportExpired, StoreError
from storemon.ingest.timestamps import parse_instant
from storemon.jobs import TriggerOutcome
from storemon.store import JobRecord

LIMIT = 4096  # max_body_bytes of the app under test


@pytest.fixture
def api(
    client_for: Callable[..., TestClient], store: Any, tables: Any
) -> tuple[TestClient, dict[str, str]]:
    """A client on the worked example, and report ids in each state."""
    client = client_for(max_body_bytes=LIMIT)
    load_example(store, tables)
    complete = client.post("/trigger_report", json={"as_of": AS_OF}).json()["report_id"]
    assert wait_for_report(client, complete).status_code == 200
    now = datetime.now(UTC)
    for job_id in ("queued-job-0001", "failed-job-0001"):
        store.insert_job(
            JobRecord(
                id=job_id,
                status="queued",
                interpolation="nearest",
                as_of_requested=None,
                data_version=store.data_version(),
                created_at=now,
                # Held by another, live server: no heartbeat of this one takes it over.
                lease_owner="another-server",
                lease_expires_at=now + timedelta(days=1),
            )
        )
    store.mark_failed(
        "failed-job-0001", finished_at=now, error="the engine failed", owner="another-server"
    )
    return client, {"complete": complete, "queued": "queued-job-0001", "failed": "failed-job-0001"}


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise StoreError("the database does not answer")


def _queue_full(*args: Any, **kwargs: Any) -> Any:
    raise QueueFull(queued=100, bound=100, retry_after_seconds=7)


def _expired(report_id: str) -> Any:
    raise ReportExpired(report_id, datetime(2023, 1, 1, tzinfo=UTC), timedelta(hours=24))


def queue_full(client: TestClient, request: Callable[[], httpx.Response]) -> httpx.Response:
    """The answer to ``request`` while the report queue is full."""
    jobs = client.app.state.services.jobs  # type: ignore[attr-defined]
    real = jobs.trigger
    jobs.trigger = _queue_full
    try:
        response = request()
    finally:
        jobs.trigger = real
    assert response.headers["retry-after"] == "7"
    return response


def expired(client: TestClient, request: Callable[[], httpx.Response]) -> httpx.Response:
    """The answer to ``request`` for a report whose result is past its retention."""
    jobs = client.app.state.services.jobs  # type: ignore[attr-defined]
    real_cached, real_result = jobs.cached_result, jobs.result
    jobs.cached_result, jobs.result = (lambda report_id: None), _expired
    try:
        return request()
    finally:
        jobs.cached_result, jobs.result = real_cached, real_result


def job_in(
    state: str, client: TestClient, ids: dict[str, str], request: Callable[[], httpx.Response]
) -> httpx.Response:
    """The answer to a fleet view whose job is ``state`` (``queued`` or ``failed``)."""
    jobs = client.app.state.services.jobs  # type: ignore[attr-defined]
    real = jobs.trigger
    job = jobs.store.get_job(ids[state])
    jobs.trigger = lambda **kwargs: TriggerOutcome(job, reused=True)
    try:
        return request()
    finally:
        jobs.trigger = real


def fleet_cases(path: str, bad: dict[int, dict[str, str]]) -> dict[int, Case]:
    """The answers of a fleet view: ``bad`` maps 400/422 to the query that gets it."""
    cases: dict[int, Case] = {
        200: lambda c, ids: c.get(path),
        202: lambda c, ids: job_in("queued", c, ids, lambda: c.get(path)),
        429: lambda c, ids: queue_full(c, lambda: c.get(path)),
        500: lambda c, ids: job_in("failed", c, ids, lambda: c.get(path)),
        503: lambda c, ids: c.get(path),
    }
    for status, params in bad.items():
        cases[status] = lambda c, ids, params=params: c.get(path, params=params)
    return cases


Case = Callable[[TestClient, dict[str, str]], httpx.Response]
BIG = b"x" * (LIMIT + 1)

#: operation -> status -> a request that gets it. ``None``: needs the database broken.
CASES: dict[tuple[str, str], dict[int, Case]] = {
    ("GET", "/trigger_report"): {
        200: lambda c, ids: c.get("/trigger_report"),
        400: lambda c, ids: c.get("/trigger_report", params={"as_of": "noon"}),
        422: lambda c, ids: c.get("/trigger_report", params={"interpolation": "linear"}),
        429: lambda c, ids: queue_full(c, lambda: c.get("/trigger_report")),
        503: lambda c, ids: c.get("/trigger_report"),
    },
    ("POST", "/trigger_report"): {
        200: lambda c, ids: c.post("/trigger_report", json={"interpolation": "previous"}),
        400: lambda c, ids: c.post("/trigger_report", content=b"{oops"),
        413: lambda c, ids: c.post("/trigger_report", content=BIG),
        422: lambda c, ids: c.post("/trigger_report", json={"as_of": 1}),
        429: lambda c, ids: queue_full(c, lambda: c.post("/trigger_report")),
        503: lambda c, ids: c.post("/trigger_report"),
    },
    ("GET", "/get_report"): {
        200: lambda c, ids: c.get("/get_report", params={"report_id": ids["complete"]}),
        202: lambda c, ids: c.get("/get_report", params={"report_id": ids["queued"]}),
        400: lambda c, ids: c.get("/get_report"),
        404: lambda c, ids: c.get("/get_report", params={"report_id": "unknown"}),
        410: lambda c, ids: expired(
            c, lambda: c.get("/get_report", params={"report_id": ids["complete"]})
        ),
        422: lambda c, ids: c.get("/get_report", params={"report_id": "x" * 129}),
        500: lambda c, ids: c.get("/get_report", params={"report_id": ids["failed"]}),
        503: lambda c, ids: c.get("/get_report", params={"report_id": "unknown"}),
    },
    ("POST", "/get_report"): {
        200: lambda c, ids: c.post(
            "/get_report", json={"report_id": ids["complete"], "format": "json"}
        ),
        202: lambda c, ids: c.post("/get_report", json={"report_id": ids["queued"]}),
        400: lambda c, ids: c.post("/get_report", json={}),
        404: lambda c, ids: c.post("/get_report", json={"report_id": "unknown"}),
        410: lambda c, ids: expired(
            c, lambda: c.post("/get_report", json={"report_id": ids["complete"]})
        ),
        413: lambda c, ids: c.post("/get_report", content=BIG),
        422: lambda c, ids: c.post("/get_report", json={"format": "xml"}),
        500: lambda c, ids: c.post("/get_report", json={"report_id": ids["failed"]}),
        503: lambda c, ids: c.post("/get_report", json={"report_id": "unknown"}),
    },
    ("POST", "/reports"): {
        202: lambda c, ids: c.post("/reports", json={"as_of": "2023-01-23 16:00"}),
        400: lambda c, ids: c.post("/reports", json={"as_of": "2023-02-30 10:00"}),
        413: lambda c, ids: c.post("/reports", content=BIG),
        422: lambda c, ids: c.post("/reports", json={"extra": 1}),
        429: lambda c, ids: queue_full(c, lambda: c.post("/reports")),
        503: lambda c, ids: c.post("/reports"),
    },
    ("GET", "/reports"): {
        200: lambda c, ids: c.get("/reports"),
        422: lambda c, ids: c.get("/reports", params={"limit": 0}),
        503: lambda c, ids: c.get("/reports"),
    },
    ("GET", "/reports/{report_id}"): {
        200: lambda c, ids: c.get(f"/reports/{ids['complete']}"),
        404: lambda c, ids: c.get("/reports/unknown"),
        422: lambda c, ids: c.get("/reports/" + "x" * 129),
        503: lambda c, ids: c.get("/reports/unknown"),
    },
    ("GET", "/reports/{report_id}.csv"): {
        200: lambda c, ids: c.get(f"/reports/{ids['complete']}.csv"),
        202: lambda c, ids: c.get(f"/reports/{ids['queued']}.csv"),
        404: lambda c, ids: c.get("/reports/unknown.csv"),
        410: lambda c, ids: expired(c, lambda: c.get(f"/reports/{ids['complete']}.csv")),
        422: lambda c, ids: c.get("/reports/" + "x" * 129 + ".csv"),
        500: lambda c, ids: c.get(f"/reports/{ids['failed']}.csv"),
        503: lambda c, ids: c.get("/reports/unknown.csv"),
    },
    ("POST", "/ingest/{source}"): {
        200: lambda c, ids: c.post("/ingest/timezones", content=b"store_id,timezone_str\nS,UTC\n"),
        400: lambda c, ids: c.post("/ingest/status", content=b""),
        413: lambda c, ids: c.post("/ingest/status", content=BIG),
        422: lambda c, ids: c.post("/ingest/status", content=b"store_id\nS\n"),
        503: lambda c, ids: c.post("/ingest/timezones", content=b"store_id,timezone_str\nS,UTC\n"),
    },
    ("GET", "/rejects"): {
        200: lambda c, ids: c.get("/rejects", params={"source": "status"}),
        422: lambda c, ids: c.get("/rejects", params={"limit": 0}),
        503: lambda c, ids: c.get("/rejects"),
    },
    ("GET", "/stores/{store_id}/outages"): {
        200: lambda c, ids: c.get("/stores/S/outages"),
        400: lambda c, ids: c.get("/stores/S/outages", params={"window": "5x"}),
        404: lambda c, ids: c.get("/stores/nope/outages"),
        422: lambda c, ids: c.get("/stores/S/outages", params={"interpolation": "linear"}),
        503: lambda c, ids: c.get("/stores/S/outages"),
    },
    ("GET", "/stores/{store_id}/timeline"): {
        200: lambda c, ids: c.get("/stores/S/timeline"),
        400: lambda c, ids: c.get("/stores/S/timeline", params={"as_of": "2023-02-30 10:00"}),
        404: lambda c, ids: c.get("/stores/nope/timeline"),
        422: lambda c, ids: c.get("/stores/S/timeline", params={"observed_within_minutes": 0}),
        503: lambda c, ids: c.get("/stores/S/timeline"),
    },
    ("GET", "/stores"): fleet_cases("/stores", {400: {"sort": "nope"}, 422: {"limit": "0"}}),
    ("GET", "/outages"): fleet_cases(
        "/outages", {400: {"window": "400d"}, 422: {"ongoing": "maybe"}}
    ),
    ("GET", "/profile"): fleet_cases(
        "/profile", {400: {"window": "0h"}, 422: {"interpolation": "linear"}}
    ),
    ("GET", "/summary"): fleet_cases("/summary", {422: {"window": "1h"}}),
    ("GET", "/healthz"): {
        200: lambda c, ids: c.get("/healthz"),
        503: lambda c, ids: c.get("/healthz"),
    },
    ("GET", "/metrics"): {
        200: lambda c, ids: c.get("/metrics"),
    },
}
_STORE_METHODS = (
    "data_version",
    "report_inputs",
    "get_job",
    "list_jobs",
    "apply_ingest",
    "find_reusable_job",
    "rejects",
)


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def _model(ref: str) -> type[BaseModel]:
    name = ref.rsplit("/", 1)[1]
    found = (
        getattr(storemon.api.schemas, name, None)
        or getattr(storemon.api.insight_schemas, name, None)
        or getattr(storemon.api.errors, name)
    )
    assert isinstance(found, type), ref
    assert issubclass(found, BaseModel), ref
    return found


def check_body(response: httpx.Response, declared: dict[str, Any]) -> None:
    """The answer's media type is declared, and a JSON body fits the declared model."""
    media = response.headers["content-type"].split(";")[0].strip()
    content = declared.get("content", {})
    assert media in content, f"{media} not in the declared {sorted(content)}"
    schema = content[media].get("schema", {})
    if media != "application/json":
        return
    body = response.json()
    if "$ref" in schema:
        _model(schema["$ref"]).model_validate(body)
    elif schema.get("type") == "array":
        assert isinstance(body, list)
        for item in body:
            _model(schema["items"]["$ref"]).model_validate(item)
    else:  # an inline model: a title names it
        _model("#/" + schema["title"]).model_validate(body)


def test_every_declared_status_is_produced_and_every_answer_declared(
    api: tuple[TestClient, dict[str, str]], store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, ids = api
    document = client.get("/openapi.json").json()
    declared = operations(document)
    assert set(declared) == set(CASES)
    answers: list[tuple[tuple[str, str], int, httpx.Response]] = []
    for key, cases in CASES.items():
        assert {int(status) for status in declared[key]["responses"]} == set(cases), key
        for status, case in cases.items():
            if status != 503:
                answers.append((key, status, case(client, ids)))
    for name in _STORE_METHODS:  # now the database fails
        monkeypatch.setattr(store, name, _broken)
    for key, cases in CASES.items():
        if 503 in cases:
            answers.append((key, 503, cases[503](client, ids)))
    for key, status, response in answers:
        assert response.status_code == status, (key, response.text)
        check_body(response, declared[key]["responses"][str(status)])


def test_with_a_token_the_document_declares_the_bearer_scheme(
    client_for: Callable[..., TestClient],
) -> None:
    client = client_for(api_token="t0ken")
    response = client.get("/openapi.json")  # open: the browser's Swagger UI reads it
    assert response.status_code == 200
    document = response.json()
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "bearerToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "The server's STOREMON_API_TOKEN.",
        }
    }
    for (method, path), operation in operations(document).items():
        if path == "/healthz":
            assert "security" not in operation
            assert "401" not in operation["responses"]
            continue
        assert operation["security"] == [{"bearerToken": []}], (method, path)
        assert "401" in operation["responses"]
        unauthorized = client.request(method, path.replace("{source}", "status"))
        assert unauthorized.status_code == 401
        check_body(unauthorized, operation["responses"]["401"])
    assert client.get("/docs").status_code == 200


def test_without_a_token_no_security_is_declared(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "securitySchemes" not in document.get("components", {})
    for operation in operations(document).values():
        assert "security" not in operation
        assert "401" not in operation["responses"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.from_regex(AS_OF_PATTERN, fullmatch=True))
def test_what_the_as_of_pattern_allows_parses(text: str) -> None:
    """The schema's pattern states the SPEC timestamp forms: every instant it allows
    parses, unless its day does not exist in its month (only parsing can tell)."""
    import calendar
    import re

    assume(len(text) <= 64)
    assume(bool(text.strip()))
    year, month, day = (int(part) for part in text.strip()[:10].split("-"))
    assume(re.search(r"\d[ Tt]\d", text) is not None)  # a time part (a bare date: ingest's)
    if day > calendar.monthrange(year, month)[1]:
        with pytest.raises(InvalidRequest):
            parse_instant(text)
    else:
        parse_instant(text)


@pytest.mark.parametrize(
    "text",
    ["2023-01-01 10:00+0530", "2023-01-01 10:00:60", "0000-01-01 00:00", "noon", "2023-1-1 10:00"],
)
def test_what_the_as_of_pattern_refuses_does_not_parse(text: str) -> None:
    import re

    assert re.match(AS_OF_PATTERN, text) is None
    with pytest.raises(InvalidRequest):
        parse_instant(text)
