"""Which agents have a console connected (and which visitors a widget open): a heartbeat per
agent (and per visitor's contact) in a Redis sorted set.

Each gateway refreshes, every few seconds, the score (the time) of every agent with an
open `/ws/agent` socket on it. An agent whose score is older than the grace period
has no console anywhere (closed, crashed, network gone, or their gateway died); the
router then takes them offline, puts their waiting conversations back in the queue and
forgets that old score, so it cannot take them offline again once they are back: only
a console's newer beat counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter

from redis.asyncio import Redis
from redis.exceptions import RedisError

from inbox.stream_read import text_of

log = logging.getLogger("crocevia.presence")

SEEN_KEY = "crocevia:agents:seen"
VISITORS_KEY = "crocevia:visitors:seen"  # by contact id: is a widget open somewhere?


class PresenceBeat:
    def __init__(self, redis: Redis, interval: float = 5.0) -> None:
        self.redis = redis
        self.interval = interval
        self.sockets: Counter[int] = Counter()
        self.visitors: Counter[int] = Counter()
        self._pending: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def join(self, agent_id: int) -> None:
        self.sockets[agent_id] += 1
        with contextlib.suppress(RedisError, OSError):
            await self.redis.zadd(SEEN_KEY, {str(agent_id): time.time()})

    def leave(self, agent_id: int) -> None:
        self.sockets[agent_id] -= 1
        if self.sockets[agent_id] <= 0:
            del self.sockets[agent_id]  # the score ages out: a reload within grace is no blip

    async def join_visitor(self, contact_id: int) -> None:
        self.visitors[contact_id] += 1
        with contextlib.suppress(RedisError, OSError):
            await self.redis.zadd(VISITORS_KEY, {str(contact_id): time.time()})

    def leave_visitor(self, contact_id: int) -> None:
        """A visitor who closed their last widget here is gone at once (a widget open on
        another gateway beats them back within `interval`)."""
        self.visitors[contact_id] -= 1
        if self.visitors[contact_id] <= 0:
            del self.visitors[contact_id]
            task = asyncio.create_task(self._forget_visitor(contact_id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _forget_visitor(self, contact_id: int) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.zrem(VISITORS_KEY, str(contact_id))

    async def beat(self) -> None:
        now = time.time()
        if self.sockets:
            await self.redis.zadd(SEEN_KEY, {str(a): now for a in self.sockets})
        if self.visitors:
            await self.redis.zadd(VISITORS_KEY, {str(c): now for c in self.visitors})

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except (RedisError, OSError) as exc:
                log.warning("presence_beat_failed", extra={"error": str(exc)})
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="presence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def connected(redis: Redis, now: float, grace: float) -> set[int]:
    """Agents whose console beat within `grace` seconds of `now`."""
    members = await redis.zrangebyscore(SEEN_KEY, now - grace, "+inf")
    return {int(text_of(m)) for m in members if isinstance(m, bytes | str)}


async def stale(redis: Redis, now: float, grace: float) -> set[int]:
    """Agents whose console beat before, but not within `grace` seconds of `now`."""
    members = await redis.zrangebyscore(SEEN_KEY, "-inf", f"({now - grace}")
    return {int(text_of(m)) for m in members if isinstance(m, bytes | str)}


async def forget_stale(redis: Redis, now: float, grace: float) -> None:
    """Drop the heartbeats `stale(now, grace)` returned, once their agents are offline.

    A heartbeat left behind would outlive its console: after the agent logs in again and
    says they are online, it would take them offline at once, before (or while) their
    new console's first beat arrives. Only scores still that old go: a console that beat
    meanwhile keeps its newer score."""
    await redis.zremrangebyscore(SEEN_KEY, "-inf", f"({now - grace}")


async def visitor_seen_within(redis: Redis, contact_id: int, now: float, seconds: float) -> bool:
    score = await redis.zscore(VISITORS_KEY, str(contact_id))
    return score is not None and score >= now - seconds
