"""Loops that run beside a process's main work and stop between two passes.

The outbox relay, the router's timers and the event webhooks each loop over database
transactions. Cancelling such a loop in the middle of one makes the pool reset its
connection under cancellation (the rollback itself is cancelled: a traceback in the
log, on SIGTERM too). So a loop here takes a `stop` event, waits with `pause` or
`unless_stopped`, and `running` asks it to stop when the block ends, cancelling it only
if it has not finished its pass after `grace_s`.

The router and the event webhooks pass after every burst of events (one loop for both:
inbox/event_passes.py): `spaced` keeps their passes `PASS_GAP_S` apart. Under a steady
flow of messages each burst is a few milliseconds long, and a pass right after each one
made the worker take half a core at 500 msg/s for passes that found nothing to do
(docs/benchmarks.md); what arrives in the gap is read at once after it, together.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
GRACE_S = 10.0
PASS_GAP_S = 0.5

Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, or less if `stop` is set meanwhile; True when it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def spaced(stop: asyncio.Event, began: float, gap_s: float = PASS_GAP_S) -> bool:
    """Wait until `gap_s` after `began` (a pass's start, `time.monotonic()`), or less if
    `stop` is set meanwhile; True when it is set."""
    left = began + gap_s - time.monotonic()
    if left > 0:
        return await pause(stop, left)
    return stop.is_set()


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None (and `work` cancelled) if `stop` is set first. For waits
    that hold no transaction, such as a blocking XREAD."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


@contextlib.asynccontextmanager
async def running(loop: Loop, name: str, grace_s: float = GRACE_S) -> AsyncIterator[None]:
    """`loop(stop)` in a task for the length of the block; then stopped between passes."""
    stop = asyncio.Event()
    task = asyncio.create_task(loop(stop), name=name)
    try:
        yield
    finally:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=grace_s)
        if not done:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
