"""When PostgreSQL goes away: a 503 that names no URL, user, host or database (the
log has them), and a read that survives the server dropping pooled connections."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from api_helpers import TestClient, assert_error_shape, make_settings

from pg_sessions import terminate_sessions
from storemon.api import create_app
from storemon.store import Store, open_store

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    store = open_store(pg_url)
    yield store
    store.close()


@pytest.fixture
def pg_client(pg_store: Store, pg_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(db=pg_url), pg_store)) as client:
        yield client


def test_a_lost_database_is_503_without_its_url(
    pg_client: TestClient, pg_admin_url: str, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert pg_client.get("/reports").status_code == 200
    terminate_sessions(pg_admin_url, pg_url, refuse_new=True)
    name = pg_url.rsplit("/", 1)[1]
    with caplog.at_level(logging.ERROR, logger="storemon.api.errors"):
        for path in ("/reports", "/healthz", "/get_report?report_id=x"):
            response = pg_client.get(path)
            body = assert_error_shape(response, 503)
            assert body["code"] == "database_error"
            for private in (name, "127.0.0.1", "5432", "postgres@", "postgresql://"):
                assert private not in response.text, (path, response.text)
            assert "PostgreSQL" in body["error"]
    assert name in caplog.text  # the whole message is in the server's log


def test_a_read_after_the_server_dropped_its_connections_is_answered(
    pg_client: TestClient, pg_admin_url: str, pg_url: str
) -> None:
    assert pg_client.get("/reports").status_code == 200
    terminate_sessions(pg_admin_url, pg_url, refuse_new=False)  # as a restart of PostgreSQL does
    assert pg_client.get("/reports").status_code == 200
    assert pg_client.get("/healthz").status_code == 200
