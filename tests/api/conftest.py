"""In-process API fixtures: an app on a fresh store (both backends) and its client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_helpers import TestClient, load_example, make_settings

from storemon.api import create_app
from storemon.store import Store


@pytest.fixture
def client_for(store: Store) -> Iterator[Callable[..., TestClient]]:
    """Build a started client for the test's store with extra settings."""
    clients: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(db=store.url, **overrides), store))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for: Callable[..., TestClient]) -> TestClient:
    """A client of an app on an empty store."""
    return client_for()


@pytest.fixture
def loaded(store: Store, tables: Any, client: TestClient) -> TestClient:
    """A client whose store holds the worked example."""
    load_example(store, tables)
    return client
