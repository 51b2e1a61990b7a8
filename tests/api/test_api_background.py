"""The API's background thread: niced, one call at a time, errors passed on."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from storemon.api.background import BACKGROUND_NICENESS, BackgroundThread


def _priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no thread priorities here")
def test_calls_run_niced_off_the_calling_thread() -> None:
    background = BackgroundThread("test-background")
    try:
        here = (threading.get_native_id(), _priority())
        there = asyncio.run(background.run(lambda: (threading.get_native_id(), _priority())))
    finally:
        background.close()
    assert there[0] != here[0]
    assert there[1] == min(19, here[1] + BACKGROUND_NICENESS)


def test_calls_run_one_at_a_time_in_order_and_errors_reach_the_caller() -> None:
    background = BackgroundThread("test-background")
    running: list[int] = []
    overlaps: list[int] = []

    def work(number: int) -> int:
        running.append(number)
        if len(running) > 1:
            overlaps.append(number)
        time.sleep(0.02)
        running.remove(number)
        if number == 3:
            raise ValueError("three")
        return number

    async def main() -> list[object]:
        calls = [background.run(work, number) for number in range(5)]
        return await asyncio.gather(*calls, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        background.close()
    assert overlaps == []
    assert results[:3] == [0, 1, 2]
    assert isinstance(results[3], ValueError)
    assert results[4] == 4
