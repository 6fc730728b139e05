"""Background loops stop between passes, and only a stuck one is cancelled."""

from __future__ import annotations

import asyncio
import time

from inbox import background


async def test_a_loop_finishes_its_pass_before_the_block_ends() -> None:
    passes: list[str] = []

    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            passes.append("begin")
            await asyncio.sleep(0.2)  # a transaction that must not be cut
            passes.append("end")
            if await background.pause(stop, 30):
                return

    async with background.running(loop, "test"):
        await asyncio.sleep(0.05)  # in the middle of the first pass
    assert passes == ["begin", "end"]


async def test_a_pause_ends_as_soon_as_stop_is_set() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.perf_counter()
    assert await background.pause(stop, 30) is True
    assert time.perf_counter() - started < 5
    assert await background.pause(asyncio.Event(), 0.01) is False


async def test_unless_stopped_gives_the_result_or_cancels_the_wait() -> None:
    stop = asyncio.Event()
    assert await background.unless_stopped(stop, asyncio.sleep(0, "done")) == "done"
    waited = asyncio.ensure_future(asyncio.sleep(30))
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await background.unless_stopped(stop, waited) is None
    assert waited.cancelled()


async def test_a_loop_that_ignores_stop_is_cancelled_after_the_grace() -> None:
    cancelled = asyncio.Event()

    async def stuck(_stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    started = time.perf_counter()
    async with background.running(stuck, "stuck", grace_s=0.1):
        await asyncio.sleep(0)
    assert cancelled.is_set() and time.perf_counter() - started < 5
