"""Concurrent callers' Redis commands share one pipeline (gateway/redis_batches.py): each
caller gets its own replies, an error reply stays its caller's, a dead Redis fails
every caller of the flush, and a caller that gave up does not break the others."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from gateway.redis_batches import CommandBatches, batches_of


async def _connections_received(redis: Redis) -> int:
    return int((await redis.info("stats"))["total_connections_received"])


async def test_concurrent_callers_share_one_connection_and_get_their_own_replies(
    redis_url: str,
) -> None:
    observer = Redis.from_url(redis_url)
    redis = Redis.from_url(redis_url)
    key = f"test:batches:{uuid.uuid4().hex}"
    try:
        before = await _connections_received(observer)
        batches = batches_of(redis)
        replies = await asyncio.gather(
            *(batches.execute([("INCRBY", key, n), ("ECHO", f"caller {n}")]) for n in range(1, 101))
        )
        after = await _connections_received(observer)
        # 100 callers at once: with a pipeline each, the pool opens a connection for each.
        assert after - before == 1
        totals = sorted(int(r[0]) for r in replies)
        assert totals[-1] == sum(range(1, 101))  # every INCRBY ran once
        assert [r[1] for r in replies] == [f"caller {n}".encode() for n in range(1, 101)]
        assert batches_of(redis) is batches
    finally:
        await redis.aclose()
        await observer.aclose()


async def test_an_error_reply_is_only_its_callers(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    key = f"test:batches:{uuid.uuid4().hex}"
    try:
        await redis.set(key, "not a number")
        batches = CommandBatches(redis)
        bad, good = await asyncio.gather(
            batches.execute([("INCR", key)]), batches.execute([("ECHO", "fine")])
        )
        assert isinstance(bad[0], ResponseError)
        assert good == [b"fine"]
    finally:
        await redis.aclose()


async def test_a_dead_redis_fails_every_caller_and_the_next_flush_runs(redis_url: str) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        batches = CommandBatches(dead)
        results = await asyncio.gather(
            batches.execute([("PING",)]), batches.execute([("PING",)]), return_exceptions=True
        )
        assert all(isinstance(r, ConnectionError) for r in results)
        with pytest.raises(ConnectionError):
            await batches.execute([("PING",)])  # not stuck behind the failed flush
    finally:
        await dead.aclose()


async def test_a_caller_that_gives_up_leaves_the_others_answered(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        batches = CommandBatches(redis)
        gone = asyncio.ensure_future(batches.execute([("ECHO", "gone")]))
        stays = asyncio.ensure_future(batches.execute([("ECHO", "stays")]))
        await asyncio.sleep(0)
        gone.cancel()
        assert await stays == [b"stays"]
        assert await batches.execute([("ECHO", "later")]) == [b"later"]
    finally:
        await redis.aclose()
