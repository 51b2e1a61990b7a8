"""The one helper that waits for a report job over HTTP (API and end-to-end tests).

Works with any httpx client: the in-process ``TestClient`` or a client of the real
server. Imported as a module (``tests/`` is on ``sys.path`` beside its conftest).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

TIMEOUT_SECONDS = 20.0


def wait_for_report(
    client: httpx.Client, report_id: str, *, timeout: float = TIMEOUT_SECONDS, **params: str
) -> httpx.Response:
    """Poll ``/get_report`` until it stops answering 202 Running; that final answer.

    Every 202 on the way must be the Running body; still Running after ``timeout``
    seconds fails the test.
    """
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/get_report", params={"report_id": report_id, **params})
        if response.status_code != 202:
            return response
        assert response.json() == {"status": "Running", "report_id": report_id}
        if time.monotonic() > deadline:
            raise AssertionError(f"report {report_id} still Running after {timeout} s")
        time.sleep(0.01)


def wait_for_info(client: httpx.Client, report_id: str, **kwargs: Any) -> dict[str, Any]:
    """``GET /reports/{id}`` once the report has finished (complete or failed)."""
    wait_for_report(client, report_id, **kwargs)
    info: dict[str, Any] = client.get(f"/reports/{report_id}").json()
    return info
