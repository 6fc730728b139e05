"""Concurrent callers' Redis commands share one pipeline (gateway/redis_batches.py): each
caller gets its own replies, an error reply stays its caller's, a dead Redis fails
every caller of the flush, and a caller that gave up does not break the others."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from gateway.redis_batches import CommandBatches, script_batches_of


async def _connections_named(observer: Redis, name: str) -> int:
    """Open connections of the client named `name` (other processes share this Redis)."""
    clients = await observer.client_list()
    return sum(1 for c in clients if c.get("name") == name)


async def test_concurrent_callers_share_one_connection_and_get_their_own_replies(
    redis_url: str,
) -> None:
    observer = Redis.from_url(redis_url)
    name = f"batches-{uuid.uuid4().hex[:12]}"
    redis = Redis.from_url(redis_url, client_name=name)
    key = f"test:batches:{name}"
    try:
        batches = CommandBatches(redis)
        replies = await asyncio.gather(
            *(batches.execute([("INCRBY", key, n), ("ECHO", f"caller {n}")]) for n in range(1, 101))
        )
        # 100 callers at once: with a pipeline each, the pool opens a connection for each.
        assert await _connections_named(observer, name) == 1
        totals = sorted(int(r[0]) for r in replies)
        assert totals[-1] == sum(range(1, 101))  # every INCRBY ran once
        assert [r[1] for r in replies] == [f"caller {n}".encode() for n in range(1, 101)]
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


# One script call for many keys, each key treated alone (as the rate limits' script); it
# also counts its own runs, in a key next to the first one it is given.
COUNTER = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('INCRBY', key, tonumber(ARGV[i]))
end
redis.call('INCR', string.match(KEYS[1], '^(.*):') .. ':runs')
return out
"""


async def test_concurrent_script_calls_are_one_evalsha_over_every_callers_keys(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    prefix = f"test:scripts:{uuid.uuid4().hex}"
    try:
        await redis.script_flush()  # the first call loads it
        batches = script_batches_of(redis, COUNTER)
        replies = await asyncio.gather(
            *(batches.call([f"{prefix}:a", f"{prefix}:{n}"], [1, n]) for n in range(1, 51))
        )
        assert int(await redis.get(f"{prefix}:runs") or 0) == 1  # one run for all 50 callers
        assert sorted(r[0] for r in replies) == list(range(1, 51))  # one key, counted in turn
        assert [r[1] for r in replies] == list(range(1, 51))  # each caller's own key
        assert script_batches_of(redis, COUNTER) is batches
    finally:
        await redis.aclose()
