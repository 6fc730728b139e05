"""The rate limiter's window slides: a burst cannot get twice the limit by straddling a
boundary, a refused use is not recorded, and Retry-After says when a use is allowed again."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.asyncio import Redis

from gateway import limits


async def _allowed(redis: Redis, limit: limits.Limit, subject: str, n: int) -> int:
    allowed = 0
    for _ in range(n):
        try:
            await limits.hit(redis, limit, subject)
            allowed += 1
        except limits.Limited:
            pass
    return allowed


async def test_a_burst_across_a_window_boundary_gets_the_limit_once(redis_url: str) -> None:
    # With fixed 2-second windows, 5 uses just before a boundary and 5 just after all
    # passed: 10 in a fraction of a second against a limit of 5 per 2 seconds.
    redis = Redis.from_url(redis_url)
    limit = limits.Limit("test-slide", 5, 2)
    subject = uuid.uuid4().hex
    try:
        await asyncio.sleep(2 - time.time() % 2 + 1.9)  # 0.1 s before a 2-second boundary
        before = await _allowed(redis, limit, subject, 5)
        await asyncio.sleep(max(0.0, 2 - time.time() % 2) + 0.05)  # just after it
        after = await _allowed(redis, limit, subject, 5)
        assert (before, after) == (5, 0)
    finally:
        await redis.aclose()


async def test_refused_uses_are_not_recorded_and_retry_after_is_when_a_use_frees(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    limit = limits.Limit("test-retry", 3, 2)
    subject = uuid.uuid4().hex
    try:
        assert await _allowed(redis, limit, subject, 3) == 3
        with pytest.raises(limits.Limited) as refused:
            await limits.hit(redis, limit, subject)
        assert refused.value.retry_after == 2
        assert await redis.zcard(f"crocevia:rl:test-retry:{subject}") == 3
        await asyncio.sleep(2.1)
        assert await _allowed(redis, limit, subject, 4) == 3
    finally:
        await redis.aclose()


async def test_a_check_without_counting_records_nothing(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    limit = limits.Limit("test-check", 2, 60)
    subject = uuid.uuid4().hex
    try:
        for _ in range(5):
            await limits.hit(redis, limit, subject, count_it=False)
        assert await _allowed(redis, limit, subject, 3) == 2
        with pytest.raises(limits.Limited):
            await limits.hit(redis, limit, subject, count_it=False)
    finally:
        await redis.aclose()


async def test_a_dead_redis_enforces_nothing(redis_url: str) -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        assert await _allowed(redis, limits.Limit("test-dead", 1, 60), "x", 3) == 3
    finally:
        await redis.aclose()


async def test_several_limits_refused_by_one_count_only_those_before_it(redis_url: str) -> None:
    # A visitor's message counts against the visitor and then their IP address: when the
    # visitor is over, the address must not lose a use to a message that was refused.
    redis = Redis.from_url(redis_url)
    first = limits.Limit("test-first", 5, 60)
    tight = limits.Limit("test-tight", 1, 60)
    after = limits.Limit("test-after", 5, 60)
    subject = uuid.uuid4().hex
    uses = [(first, subject), (tight, subject), (after, subject)]
    try:
        await limits.hit_all(redis, uses)
        with pytest.raises(limits.Limited) as refused:
            await limits.hit_all(redis, uses)
        assert refused.value.limit == tight
        counts = [await redis.zcard(f"crocevia:rl:{lim.name}:{subject}") for lim, _ in uses]
        assert counts == [2, 1, 1]
    finally:
        await redis.aclose()


async def test_limits_hold_after_the_server_forgot_the_script(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    limit = limits.Limit("test-flush", 1, 60)
    subject = uuid.uuid4().hex
    try:
        await limits.hit(redis, limit, subject)
        await redis.script_flush()  # as after a restart of Redis
        with pytest.raises(limits.Limited):
            await limits.hit_all(redis, [(limit, subject), (limit, uuid.uuid4().hex)])
    finally:
        await redis.aclose()


async def test_a_stalled_redis_counts_as_unreachable_after_the_wait() -> None:
    """A server that accepts the connection and never answers (a Redis stuck in a long
    command, or paused): the check gives up after `within_s` and lets the use through,
    as with a Redis that is down."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = Redis.from_url(f"redis://127.0.0.1:{port}")
    try:
        started = time.monotonic()
        await limits.hit_all(redis, [(limits.Limit("test-stall", 1, 10), "x")], within_s=0.2)
        assert 0.2 <= time.monotonic() - started < 2
        with pytest.raises(TimeoutError):  # without a bound it would wait on and on
            await asyncio.wait_for(limits.hit(redis, limits.Limit("test-stall", 1, 10), "y"), 0.5)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await redis.aclose()
