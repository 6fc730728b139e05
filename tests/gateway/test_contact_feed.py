"""Visitors' events come by their contact's channel (gateway/contact_feed.py), against a
real Redis: a gateway holding only visitors receives its contacts' events and no
others, and never reads the stream until an agent connects (then it reads the stream
alone, for its visitors too); a channel connection killed
while events flow loses none of them and doubles none (the feed catches up from the
stream)."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.hub import Hub
from gateway.subscriber import Subscriber
from inbox.events import NewEvent
from inbox.relay import Relay

_eids = itertools.count(secrets.randbelow(10**9) * 1000)


def _contact() -> int:
    return 10**12 + secrets.randbelow(10**9)


def _event(contact: int, n: int) -> NewEvent:
    return NewEvent(next(_eids), "events", "message.created", {
        "message": {"id": n, "direction": "in", "text": f"messaggio {n}"},
        "conversation": {"id": contact + 1, "inbox_id": 1, "contact": {"id": contact}},
        "n": n,
    })  # fmt: skip


def _visitor(contact: int) -> Subscriber:
    return Subscriber(lambda _ev: True, lambda _p: False, contact_id=contact)


def _ns(sub: Subscriber) -> list[int]:
    return [json.loads(f)["data"]["n"] for f in sub.frames or ()]


async def _until(check: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[Redis]]:
    made = [Redis.from_url(redis_url) for _ in range(3)]
    yield made
    for client in made:
        await client.aclose()


async def _hub(redis: Redis) -> Hub:
    hub = Hub(redis)
    await hub.start()
    return hub


async def test_a_gateway_of_visitors_gets_its_contacts_events_only(
    clients: list[Redis], db: async_sessionmaker[AsyncSession]
) -> None:
    relay = Relay(clients[0], db)
    hub_a, hub_b = await _hub(clients[1]), await _hub(clients[2])
    try:
        c1, c2, c3 = _contact(), _contact(), _contact()
        sub_a, sub_b = _visitor(c1), _visitor(c2)
        assert await hub_a.subscribe(sub_a, None)
        assert await hub_b.subscribe(sub_b, None)
        await relay.publish([_event((c1, c2, c3)[n % 3], n) for n in range(30)])
        await _until(lambda: len(_ns(sub_a)) == 10 and len(_ns(sub_b)) == 10)
        assert _ns(sub_a) == list(range(0, 30, 3))
        assert _ns(sub_b) == list(range(1, 30, 3))
        # Neither gateway was sent the other's events, nor the third contact's, and
        # neither read the events stream.
        assert hub_a.feed.received == 10 and hub_b.feed.received == 10
        assert hub_a._reads == 0 and hub_b._reads == 0
        # An agent connects to the first: from then on, that one reads the whole stream,
        # its visitor's events included, and drops its channel.
        agent = Subscriber(lambda _ev: True, lambda _p: True)
        assert await hub_a.subscribe(agent, None)
        await _until(lambda: hub_a.feed.channels == 0)
        await relay.publish([_event((c1, c2, c3)[n % 3], n) for n in range(30, 36)])
        await _until(lambda: len(_ns(agent)) == 6 and len(_ns(sub_b)) == 12)
        assert _ns(agent) == list(range(30, 36))
        assert _ns(sub_a) == [*range(0, 30, 3), 30, 33]
        assert hub_a._reads > 0 and hub_b._reads == 0
    finally:
        await hub_a.stop()
        await hub_b.stop()


async def _kill_feed_connection(redis: Redis, hub: Hub) -> None:
    pubsub = hub.feed._pubsub
    assert pubsub is not None and pubsub.connection is not None
    writer = pubsub.connection._writer
    assert writer is not None
    host, port = writer.get_extra_info("sockname")[:2]
    await redis.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}")


async def test_a_dropped_channel_connection_loses_and_doubles_nothing(
    clients: list[Redis], db: async_sessionmaker[AsyncSession]
) -> None:
    relay = Relay(clients[0], db)
    hub = await _hub(clients[1])
    try:
        contact = _contact()
        sub = _visitor(contact)
        assert await hub.subscribe(sub, None)
        n = 0
        for _round in range(3):
            for _ in range(20):
                await relay.publish([_event(contact, n), _event(contact, n + 1)])
                n += 2
            await _until(lambda: len(_ns(sub)) == n)  # noqa: B023
            # Killed, and events published at once, before the feed has subscribed again.
            await _kill_feed_connection(clients[0], hub)
            for _ in range(5):
                await relay.publish([_event(contact, n)])
                n += 1
        await _until(lambda: len(_ns(sub)) >= n)
        await asyncio.sleep(0.2)  # anything doubled would have come by now
        assert _ns(sub) == list(range(n))
        assert hub.feed.catch_ups >= 1
    finally:
        await hub.stop()
