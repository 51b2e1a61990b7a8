"""The one way tests wait for something to happen (a job to finish, a report to be ready)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

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
