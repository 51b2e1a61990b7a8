"""Helpers shared by the API tests (imported as a module; fixtures are in conftest).

Import ``TestClient`` from here, not from fastapi/starlette (see the comment below).
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import httpx
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x asks for the httpx2 fork in its TestClient; the pinned httpx works,
    # and the deprecation warning would be an error under `filterwarnings = error`.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from report_waiting import wait_for_info, wait_for_report
from storemon.config import Settings
from storemon.store import IngestBatch, Store

DATA = Path(__file__).parent.parent / "data" / "api"
AS_OF = "2023-01-23 17:00:00 UTC"  # SPEC.md's worked example

#: The worked example's report at AS_OF (tests/data/api/README.md), in CSV column order.
EXPECTED: dict[str, dict[str, list[float]]] = {
    "nearest": {"S": [0, 1.74, 1.74, 60, 1.26, 1.26], "T": [60, 24, 168, 0, 0, 0]},
    "previous": {"S": [15, 2.25, 2.25, 45, 0.75, 0.75], "T": [60, 24, 168, 0, 0, 0]},
}


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: no .env file, no inbox, explicit values only."""
    values: dict[str, Any] = {"inbox_enabled": False, "api_token": None, "report_workers": 2}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def load_example(store: Store, tables: Any) -> None:
    """SPEC's worked example (store S) plus store T, as in tests/data/api/README.md."""
    store.apply_ingest(
        IngestBatch(
            polls=tables.polls(
                [
                    ("S", "2023-01-23 15:14", True),
                    ("S", "2023-01-23 16:15", False),
                    ("T", "2023-01-23 16:30", True),
                ]
            ),
            hours=tables.hours([("S", 0, "09:00", "12:00")]),
            timezones=tables.timezones([("S", "America/New_York")]),
        )
    )


def parse_csv(text: str) -> dict[str, list[float]]:
    """Report CSV → {store_id: [six values]}, checking the header."""
    lines = text.strip().splitlines()
    assert lines[0] == (
        "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
        "downtime_last_hour,downtime_last_day,downtime_last_week"
    )
    rows = [line.split(",") for line in lines[1:]]
    return {row[0]: [float(value) for value in row[1:]] for row in rows}


def metric(text: str, sample: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (parsed, so the format is checked)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample and found.labels == labels:
                return float(found.value)
    raise AssertionError(f"no sample {sample}{labels} in the metrics:\n{text}")


def assert_error_shape(response: httpx.Response, status: int) -> dict[str, Any]:
    """The one error shape: error (text), code (text), details (list of loc/message)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str)
    assert body["error"]
    assert isinstance(body["code"], str)
    assert isinstance(body["details"], list)
    for detail in body["details"]:
        assert set(detail) == {"loc", "message"}
    return dict(body)


def hold_the_engine(monkeypatch: Any) -> threading.Event:
    """Make every report wait in the engine until the returned event is set (the caller
    sets it, also when the test fails, or the job's worker waits 10 s)."""
    import storemon.jobs.outputs

    gate = threading.Event()
    real = storemon.jobs.outputs.compute_report

    def slow(*args: Any, **kwargs: Any) -> Any:
        assert gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(storemon.jobs.outputs, "compute_report", slow)
    return gate


__all__ = [
    "AS_OF",
    "DATA",
    "EXPECTED",
    "TestClient",
    "assert_error_shape",
    "hold_the_engine",
    "load_example",
    "make_settings",
    "metric",
    "parse_csv",
    "wait_for_info",
    "wait_for_report",
]
