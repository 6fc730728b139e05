"""A worker's loop that passes after every burst of events, and at least every so often.

The router (gateway/router.py) and the event webhooks (gateway/event_webhooks.py) each
run a pass over the database when events arrive in the stream, and on a timer besides
(timers fall due with no event). Passes are kept `background.PASS_GAP_S` apart: what
arrives in the gap is read at once after it, together (inbox/background.py `spaced`).
A pass that fails (the database or Redis away) is logged and run again on the next
turn; while Redis is away, the loop passes every `interval` seconds, on the database
alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from inbox import background
from inbox.stream_read import read_reply

log = logging.getLogger("crocevia.event_passes")


async def pass_on_events(
    stop: asyncio.Event,
    redis: Redis,
    stream: str,
    run_pass: Callable[[], Awaitable[object]],
    interval: float,
    name: str,
) -> None:
    """Run `run_pass` after every burst of entries in `stream` (at most one pass per
    `background.PASS_GAP_S`) and at least every `interval` seconds, until `stop`. `name`
    prefixes the log events of failures."""
    position = "$"
    while not stop.is_set():
        began = time.monotonic()
        try:
            await run_pass()
        except (SQLAlchemyError, RedisError, OSError) as exc:
            log.warning(f"{name}_pass_failed", extra={"error": str(exc)})
        if await background.spaced(stop, began):
            return
        try:
            got = await background.unless_stopped(
                stop, redis.xread({stream: position}, block=int(interval * 1000))
            )
            entries = read_reply(got)
            if entries:
                position = entries[-1][0]
        except (RedisError, OSError) as exc:  # Redis away: pass on the timer alone
            log.warning(f"{name}_wait_failed", extra={"error": str(exc)})
            await background.pause(stop, interval)
