"""One JSON error shape everywhere: a walk over every route with bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import TestClient, assert_error_shape

from storemon.errors import StoreError

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
NO_INPUT = {("GET", "/healthz"), ("GET", "/metrics")}

#: (method, route path) -> a request with bad input: (url, request kwargs, status).
BAD_INPUT: dict[tuple[str, str], list[tuple[str, dict[str, Any], int]]] = {
    ("GET", "/trigger_report"): [
        ("/trigger_report", {"params": {"interpolation": "linear"}}, 422),
        ("/trigger_report", {"params": {"as_of": "noon"}}, 400),
    ],
    ("POST", "/trigger_report"): [
        ("/trigger_report", {"json": {"interpolation": "linear"}}, 422),
        ("/trigger_report", {"content": b"{oops"}, 400),
    ],
    ("GET", "/get_report"): [
        ("/get_report", {}, 400),
        ("/get_report", {"params": {"report_id": "missing"}}, 404),
    ],
    ("POST", "/get_report"): [
        ("/get_report", {"content": b"[1"}, 400),
        ("/get_report", {"json": {"report_id": ["a"]}}, 422),
    ],
    ("POST", "/reports"): [
        ("/reports", {"json": {"as_of": "2023-13-01 00:00"}}, 400),
        ("/reports", {"json": {"extra": 1}}, 422),
    ],
    ("GET", "/reports"): [("/reports", {"params": {"limit": "0"}}, 422)],
    ("GET", "/reports/{report_id}"): [("/reports/unknown-id", {}, 404)],
    ("GET", "/rejects"): [("/rejects", {"params": {"offset": "-1"}}, 422)],
    ("GET", "/reports/{report_id}.csv"): [("/reports/unknown-id.csv", {}, 404)],
    ("POST", "/ingest/{source}"): [
        ("/ingest/menus", {"content": b"a,b\n"}, 422),
        ("/ingest/status", {"content": b""}, 400),
    ],
    ("GET", "/stores/{store_id}/outages"): [
        ("/stores/nope/outages", {}, 404),
        ("/stores/x/outages", {"params": {"interpolation": "linear"}}, 422),
        ("/stores/x/outages", {"params": {"window": "5x"}}, 400),
    ],
    ("GET", "/stores/{store_id}/timeline"): [
        ("/stores/nope/timeline", {}, 404),
        ("/stores/x/timeline", {"params": {"observed_within_minutes": "-1"}}, 422),
    ],
    ("GET", "/stores"): [
        ("/stores", {"params": {"sort": "nope"}}, 400),
        ("/stores", {"params": {"limit": "0"}}, 422),
    ],
    ("GET", "/outages"): [
        ("/outages", {"params": {"window": "400d"}}, 400),
        ("/outages", {"params": {"ongoing": "maybe"}}, 422),
    ],
    ("GET", "/profile"): [("/profile", {"params": {"window": "0h"}}, 400)],
    ("GET", "/summary"): [("/summary", {"params": {"window": "1h"}}, 422)],
}


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) the API declares, from its OpenAPI document."""
    paths = client.get("/openapi.json").json()["paths"]
    return sorted((method.upper(), path) for path, item in paths.items() for method in item)


def concrete(path: str) -> str:
    return path.replace("{report_id}", "some-id").replace("{source}", "status")


def test_every_route_with_input_has_a_bad_input_case(client: TestClient) -> None:
    assert set(api_routes(client)) == set(BAD_INPUT) | NO_INPUT


@pytest.mark.parametrize(
    ("key", "case"),
    [(key, case) for key, cases in BAD_INPUT.items() for case in cases],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_input_gets_the_error_shape(
    client: TestClient, key: tuple[str, str], case: tuple[str, dict[str, Any], int]
) -> None:
    url, kwargs, status = case
    assert_error_shape(client.request(key[0], url, **kwargs), status)


def test_wrong_methods_get_405_listing_every_allowed_method(client: TestClient) -> None:
    routes = api_routes(client)
    paths = {concrete(path) for _, path in routes}
    for path in sorted(paths):
        allowed = {method for method, route in routes if concrete(route) == path}
        for method in ALL_METHODS:
            if method in allowed:
                continue
            response = client.request(method, path)
            body = assert_error_shape(response, 405)
            assert body["code"] == "method_not_allowed"
            assert method in body["error"]
            assert set(response.headers["allow"].split(", ")) == allowed, path
            for other in allowed:
                assert other in body["error"]


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    body = assert_error_shape(client.get("/no/such/thing"), 404)
    assert body["code"] == "not_found"
    assert "/no/such/thing" in body["error"]


def test_validation_details_name_the_field(client: TestClient) -> None:
    body = assert_error_shape(client.get("/trigger_report", params={"interpolation": "x"}), 422)
    assert body["code"] == "validation_error"
    assert body["details"][0]["loc"] == "query.interpolation"
    assert "'nearest' or 'previous'" in body["details"][0]["message"]


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/trigger_report", "/get_report", "/reports", "/healthz", "/metrics"} <= set(
        spec["paths"]
    )


def test_store_errors_become_503_with_the_public_message_only(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    store: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "postgresql://alice@db.internal:5432/storemon"

    def broken(*args: Any, **kwargs: Any) -> Any:
        # As the store raises it: the full text names the server, ``public`` does not.
        raise StoreError(
            f"cannot reach {secret}: connection refused",
            public="the database does not answer; check STOREMON_DB",
        )

    monkeypatch.setattr(store, "data_version", broken)
    for response in (client.post("/trigger_report"), client.get("/healthz")):
        body = assert_error_shape(response, 503)
        assert body["code"] == "database_error"
        assert body["error"] == "the database does not answer; check STOREMON_DB"
        assert "alice" not in response.text
        assert "db.internal" not in response.text
    assert secret in caplog.text  # the log keeps the whole story


def test_a_store_error_with_an_empty_public_message_shows_no_detail(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, store: Any
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("cannot reach postgresql://alice@db.internal:5432/storemon", public="")

    monkeypatch.setattr(store, "data_version", broken)
    response = client.post("/trigger_report")
    assert assert_error_shape(response, 503)["error"] == (
        "the database failed; the details are in the server log"
    )
    assert "alice" not in response.text


def test_unexpected_errors_are_500_in_the_error_shape(
    client_for: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch, store: Any
) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("boom")

    client = client_for()
    monkeypatch.setattr(store, "get_job", crash)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    body = assert_error_shape(quiet.get("/reports/abc"), 500)
    assert body == {
        "error": "internal server error (see the server log)",
        "code": "internal_error",
        "details": [],
    }


@pytest.mark.parametrize(
    "url",
    [
        "/get_report?report_id=%00abc",
        "/get_report?report_id=a%0Ab",
        "/reports/%00abc",
        "/reports/%00abc.csv",
        "/reports/%C3%A9t%C3%A9",
    ],
)
def test_ids_no_report_can_have_are_404_on_every_backend(client: TestClient, url: str) -> None:
    """Not 503: PostgreSQL refuses NUL in text, which is the client's mistake, not the db's."""
    body = assert_error_shape(client.get(url), 404)
    assert body["code"] == "report_not_found"


@pytest.mark.parametrize("url", ["/trigger_report", "/get_report", "/reports"])
def test_json_nested_too_deeply_is_400_not_500(client: TestClient, url: str) -> None:
    body = assert_error_shape(client.post(url, content=b"[" * 200_000), 400)
    assert body["code"] == "invalid_request"
    assert "nested too deeply" in body["error"]
    assert len(body["error"]) < 300


def test_a_bad_get_report_body_suggests_the_report_id_shape(client: TestClient) -> None:
    body = assert_error_shape(client.post("/get_report", content=b"report_id=abc"), 400)
    assert '{"report_id": ' in body["error"]
    trigger = assert_error_shape(client.post("/trigger_report", content=b"as_of=now"), 400)
    assert '{"as_of": ' in trigger["error"]


def test_values_given_twice_are_both_quoted(client: TestClient) -> None:
    response = client.post("/trigger_report", params={"as_of": "2023-01-01"}, json={"as_of": "x"})
    body = assert_error_shape(response, 400)
    assert body["error"] == (
        "as_of given twice with different values ('2023-01-01' in the query, 'x' in the body); "
        "give it once"
    )


def test_echo_quotes_at_most_200_characters() -> None:
    from storemon.api.errors import echo

    assert echo("abc") == "'abc'"
    long = echo("z" * 100_000)
    assert long == repr("z" * 200) + "… (100,000 characters)"


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("GET", "/get_report", {"params": {"report_id": "x" * 129}}),
        ("POST", "/get_report", {"json": {"report_id": "x" * 129}}),
        ("GET", "/reports/" + "x" * 129, {}),
        ("GET", "/reports/" + "x" * 129 + ".csv", {}),
    ],
)
def test_an_over_long_report_id_is_one_status_everywhere(
    client: TestClient, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    body = assert_error_shape(client.request(method, url, **kwargs), 422)
    assert body["code"] == "validation_error"
    assert "at most 128 characters" in body["error"]


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("/trigger_report", {"params": {"as_of": "2023-01-01" + "9" * 60_000}}),  # httpx: URL < 64k
        ("/trigger_report", {"json": {"as_of": "2023-01-01" + "9" * 100_000}}),
        ("/reports", {"json": {"as_of": "9" * 100_000}}),
    ],
)
def test_a_huge_as_of_is_refused_without_being_echoed(
    client: TestClient, url: str, kwargs: dict[str, Any]
) -> None:
    body = assert_error_shape(client.post(url, **kwargs), 422)
    assert "at most 64 characters" in body["error"]
    assert len(body["error"]) < 300
    assert "999999999" not in str(body)


def test_a_flood_of_validation_errors_is_summed_up(client: TestClient) -> None:
    fields = {f"field_{'x' * 100}_{number}": 1 for number in range(500)}
    body = assert_error_shape(client.post("/reports", json=fields), 422)
    assert len(body["details"]) == 20
    assert body["error"].endswith("; and 480 more")
    assert len(body["error"]) < 3000
    assert "x" * 61 not in body["error"]


def test_a_client_that_disconnects_mid_upload_logs_one_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """At the ASGI level: part of the body, then the client is gone."""
    import anyio
    from starlette.types import Message

    messages: list[Message] = [
        {"type": "http.request", "body": b"store_id,status,timestamp_utc\n", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ingest/status",
        "raw_path": b"/ingest/status",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"content-length", b"1000000")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }
    caplog.clear()
    anyio.run(client.app, scope, receive, send)
    records = [record for record in caplog.records if record.levelno >= 30]
    assert [record.getMessage() for record in records] == [
        "POST /ingest/status: the client disconnected before the request was complete"
    ]
    assert all(record.exc_info is None for record in caplog.records)
