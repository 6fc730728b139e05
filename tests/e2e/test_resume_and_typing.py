"""The resume rule's edge (an id older than the stream keeps) and ephemeral typing frames."""

from __future__ import annotations

import pytest
from conftest import Services, World
from crocevia_clients import Clients
from redis.asyncio import Redis

from inbox.events import EVENTS_STREAM

pytestmark = pytest.mark.timeout(60)


async def test_a_client_too_far_behind_is_told_to_resync(
    services: Services, world: World, clients: Clients
) -> None:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    await visitor.say("before the trim")
    redis = Redis.from_url(services.redis_url)
    oldest = await redis.xrange(EVENTS_STREAM, "-", "+", count=1)
    stale = oldest[0][0].decode()
    await visitor.say("after 1")
    await redis.xtrim(
        EVENTS_STREAM, maxlen=1, approximate=False
    )  # retention passed: the stale id is gone
    await redis.aclose()

    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect(last_event_id=stale)
    first = await agent.recv()
    assert first["type"] == "resync", first
    # Live events still flow on the same socket.
    ack = await visitor.say("after the resync")
    live = await agent.wait_for(
        lambda f: f.get("type") == "event" and f["event"] == "message.created"
    )
    assert live["data"]["message"]["id"] == ack["message"]["id"]


async def test_typing_goes_both_ways_and_is_never_replayed(
    services: Services, world: World, clients: Clients
) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect()
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    conv_id = (await visitor.say("ciao"))["message"]["conversation_id"]

    await visitor.send({"type": "typing", "on": True})
    seen = await agent.wait_for(lambda f: f.get("type") == "typing")
    assert seen == {"type": "typing", "conversation_id": conv_id, "from": "visitor", "on": True}

    await agent.send({"type": "typing", "conversation_id": conv_id, "on": True})
    shown = await visitor.wait_for(lambda f: f.get("type") == "typing")
    assert shown["from"] == "agent" and shown["name"] == "Anna"

    last = agent.last_event_id
    await agent.close()
    await agent.connect(last_event_id=last)
    assert not [f for f in await agent.quiet(0.5) if f.get("type") == "typing"]
