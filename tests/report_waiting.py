"""The one way tests wait: :func:`wait_until` (any condition: a job in the jobs layer,
a status over HTTP), and on it the wait for a report job over HTTP (API and end-to-end
tests), which works with any httpx client: the in-process ``TestClient`` or a client
of the real server. Imported as a module (``tests/`` is on ``sys.path`` beside its
conftest).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

TIMEOUT_SECONDS = 20.0
T = TypeVar("T")


def wait_until(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 0.005,
) -> T:
    """Call ``probe`` until ``done`` holds for its result or ``timeout`` seconds pass;
    the last result either way (the caller asserts on it)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def wait_for_report(
    client: httpx.Client, report_id: str, *, timeout: float = TIMEOUT_SECONDS, **params: str
) -> httpx.Response:
    """Poll ``/get_report`` until it stops answering 202 Running; that final answer.

    Every 202 on the way must be the Running body; still Running after ``timeout``
    seconds fails the test.
    """

    def poll() -> httpx.Response:
        response = client.get("/get_report", params={"report_id": report_id, **params})
        if response.status_code == 202:
            assert response.json() == {"status": "Running", "report_id": report_id}
        return response

    response = wait_until(poll, lambda r: r.status_code != 202, timeout=timeout, interval=0.01)
    if response.status_code == 202:
        raise AssertionError(f"report {report_id} still Running after {timeout} s")
    return response


def wait_for_info(client: httpx.Client, report_id: str, **kwargs: Any) -> dict[str, Any]:
    """``GET /reports/{id}`` once the report has finished (complete or failed)."""
    wait_for_report(client, report_id, **kwargs)
    info: dict[str, Any] = client.get(f"/reports/{report_id}").json()
    return info
