"""A socket resuming from a last event id gets every later event once, whether the hub
replays it from the events it keeps in memory or, when those no longer reach back that
far, from the Redis stream (gateway/hub.py), against a real Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.hub import Hub
from gateway.recent_events import RecentEvents
from gateway.stream_event import StreamEvent
from gateway.subscriber import Subscriber
from inbox.events import EVENTS_STREAM, routing
from inbox.stream_purge import purge_contacts


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.delete(EVENTS_STREAM)
    yield client
    await client.delete(EVENTS_STREAM)
    await client.aclose()


@pytest.fixture
async def hub(redis: Redis) -> AsyncIterator[Hub]:
    started = Hub(redis)
    await started.start()
    yield started
    await started.stop()


def _everyone() -> Subscriber:
    return Subscriber(accepts=lambda _ev: True, accepts_ephemeral=lambda _p: True)


def _ns(sub: Subscriber) -> list[int]:
    return [json.loads(f)["data"]["n"] for f in sub.frames or ()]


async def _add(redis: Redis, ns: range, tag: str, contact: int | None = None) -> list[str]:
    route = routing({"conversation": {"contact": {"id": contact}}}) if contact else ""
    ids = []
    for n in ns:
        ids.append((await redis.xadd(EVENTS_STREAM, {
            "eid": str(n), "event": "message.created", "r": route,
            "data": json.dumps({"n": n, "t": tag}),
        })).decode())  # fmt: skip
    return ids


async def _read_all(live: Subscriber, count: int) -> None:
    async with asyncio.timeout(10):
        while len(live.frames or ()) < count:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("kept", [1000, 4], ids=["from-memory", "from-redis"])
async def test_a_resumed_socket_gets_each_later_event_once(
    redis: Redis, hub: Hub, kept: int
) -> None:
    hub.recent.limit = kept
    live = _everyone()
    assert await hub.subscribe(live, None)
    tag = uuid.uuid4().hex
    ids = await _add(redis, range(1, 21), tag)
    await _read_all(live, 20)
    resumed = _everyone()
    assert await hub.subscribe(resumed, ids[4])  # had seen events 1..5
    assert _ns(resumed) == list(range(6, 21))
    await _add(redis, range(21, 24), tag)  # and live from then on, nothing twice
    await _read_all(live, 23)
    assert _ns(resumed) == list(range(6, 24))
    from_the_start = _everyone()
    assert await hub.subscribe(from_the_start, ids[0])
    assert _ns(from_the_start) == list(range(2, 24))


async def test_a_resume_after_an_erasure_gets_nothing_of_the_erased_contact(
    redis: Redis, hub: Hub
) -> None:
    live = _everyone()
    assert await hub.subscribe(live, None)
    tag = uuid.uuid4().hex
    ids = await _add(redis, range(0, 1), tag, contact=8)
    await _add(redis, range(1, 4), tag, contact=7)
    await _add(redis, range(4, 7), tag, contact=8)
    await _add(redis, range(7, 10), tag, contact=7)
    await _read_all(live, 10)  # all ten are in the hub's memory now
    assert await purge_contacts(redis, [7]) == 6
    resumed = _everyone()
    assert await hub.subscribe(resumed, ids[0])
    assert _ns(resumed) == [4, 5, 6]
    await _add(redis, range(10, 12), tag, contact=8)  # kept again from here on
    await _read_all(live, 12)
    again = _everyone()
    assert await hub.subscribe(again, ids[0])
    assert _ns(again) == [4, 5, 6, 10, 11]


def test_events_kept_in_memory_are_bounded() -> None:
    recent = RecentEvents(limit=10)
    recent.reset((0, 0))
    for n in range(1, 100):
        recent.keep(StreamEvent(f"{n}-0", n, "message.created", {}, "{}"))
    assert len(recent.events) < 2 * recent.limit
    assert not recent.covers((5, 0))  # let go: the stream must replay it
    assert recent.covers((95, 0))
    assert [ev.eid for ev in recent.after((95, 0))] == [96, 97, 98, 99]
