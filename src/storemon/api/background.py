"""Background work of the API that must not compete with answering requests.

An ingest parses and validates its file and writes it to the database: CPU and
I/O for as long as the file is large. It runs here, on one thread of its own at a
lower CPU priority (like the report workers): when the CPUs are busy, the event
loop and the request threads come first. One ingest at a time — the database
takes one writer anyway — so that concurrent uploads do not each hold a parsed
file in memory while they wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, ParamSpec, TypeVar

__all__ = ["BACKGROUND_NICENESS", "BackgroundThread"]

#: How much lower the background thread's CPU priority is (as `nice` counts).
BACKGROUND_NICENESS: Final = 10

P = ParamSpec("P")
T = TypeVar("T")


def _lower_priority() -> None:
    """Run this thread niced (Linux: a thread's priority is its own; elsewhere nothing)."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + BACKGROUND_NICENESS))


class BackgroundThread:
    """One niced worker thread; :meth:`run` awaits a call made on it."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=name, initializer=_lower_priority
        )

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``function(*args, **kwargs)`` on the thread, after the calls before it."""
        future = self._executor.submit(function, *args, **kwargs)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Finish the calls submitted; accept no more. Idempotent."""
        self._executor.shutdown(wait=True)
