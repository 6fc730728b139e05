"""Redis restarts empty: nothing the database committed is lost (the relay republishes)."""

from __future__ import annotations

import uuid

import pytest
from conftest import World
from crocevia_clients import Clients

from gateway.embedded_redis import EmbeddedRedis

pytestmark = pytest.mark.timeout(90)


async def test_messages_and_replies_survive_a_redis_restart(
    world: World, clients: Clients, redis_server: EmbeddedRedis
) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect()
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    first = await visitor.say("prima del guasto")
    conv_id = first["message"]["conversation_id"]
    await agent.wait_for(lambda f: f.get("event") == "message.created")

    redis_server.stop()
    try:
        during = await visitor.say("durante il guasto")  # stored: the database needs no Redis
        assert during["type"] == "ack"
        r = await agent.http.post(
            f"/api/conversations/{conv_id}/messages",
            json={"client_id": str(uuid.uuid4()), "text": "risposta durante il guasto"},
        )
        assert r.status_code == 201 and r.json()["status"] == "pending"
        reply_id = r.json()["id"]
    finally:
        redis_server.start()

    seen = await agent.wait_for(
        lambda f: (
            f.get("event") == "message.created"
            and f["data"]["message"]["id"] == during["message"]["id"]
        ),
        timeout=30,
    )
    assert seen["data"]["message"]["text"] == "durante il guasto"
    sent = await agent.wait_for(
        lambda f: (
            f.get("event") == "message.updated"
            and f["data"]["message"]["id"] == reply_id
            and f["data"]["message"]["status"] == "sent"
        ),
        timeout=30,
    )
    assert sent["data"]["message"]["text"] == "risposta durante il guasto"
    got = await visitor.wait_for(
        lambda f: f.get("event") == "message.updated" and f["data"]["message"]["id"] == reply_id,
        timeout=30,
    )
    assert got["data"]["message"]["status"] == "sent"
