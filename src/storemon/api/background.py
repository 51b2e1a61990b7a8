"""Background work of the API: ingests, on one thread of their own, one at a time.

An ingest parses and validates its file and writes it to the database, for as
long as the file is large. It never runs on the event loop, and not on the shared
request thread pool either: on this one thread, ingests run one after the other —
the database takes one writer anyway — so that concurrent uploads do not each hold
a parsed file in memory while they wait for it.

The thread is not niced, unlike the report workers: an ingest holds the database's
writer, and the triggers and job updates waiting for that writer would then wait
on a thread that the busy CPUs serve last (priority inversion). Its CPU cost
beside the event loop is small: a 13,559-poll batch holds the GIL at most a few
milliseconds at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["BackgroundThread"]

P = ParamSpec("P")
T = TypeVar("T")


class BackgroundThread:
    """One worker thread; :meth:`run` awaits a call made on it, after those before it."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``function(*args, **kwargs)`` on the thread, after the calls before it."""
        future = self._executor.submit(function, *args, **kwargs)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Finish the calls submitted; accept no more. Idempotent."""
        self._executor.shutdown(wait=True)
