"""The API's background thread: off the caller's thread, one call at a time, errors passed on."""

from __future__ import annotations

import asyncio
import threading
import time

from storemon.api.background import BackgroundThread


def test_calls_run_off_the_calling_thread() -> None:
    background = BackgroundThread("test-background")
    try:
        there = asyncio.run(background.run(threading.get_ident))
    finally:
        background.close()
    assert there != threading.get_ident()


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
