"""Gateways share nothing but the database and Redis: any of them serves any client."""

from __future__ import annotations

import signal

import pytest
from conftest import Services, World
from crocevia_clients import AgentClient, Clients, VisitorClient, login

from gateway.embedded_redis import free_port

pytestmark = pytest.mark.timeout(90)


async def test_a_visitor_on_one_gateway_reaches_an_agent_on_another_and_survives_its_death(
    services: Services, world: World, clients: Clients
) -> None:
    port = free_port()
    other = services.start_gateway(port)
    other_http, other_ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    try:
        _id, email, password = world.agents["anna"]
        agent = await clients.agent(email, password)  # on the session's gateway
        await agent.connect()
        session = (await clients.visitor(world.website_token)).session
        visitor = VisitorClient(other_http, other_ws, session)  # on the other gateway
        clients.made.append(visitor)
        await visitor.connect()

        ack = await visitor.say("scrivo dal gateway B")
        got = await agent.wait_for(lambda f: f.get("event") == "message.created")
        assert got["data"]["message"]["id"] == ack["message"]["id"]
        reply = await agent.reply(ack["message"]["conversation_id"], "rispondo dal gateway A")
        await visitor.wait_for(
            lambda f: (
                f.get("event") == "message.updated"
                and f["data"]["message"]["id"] == reply["message"]["id"]
            )
        )
        last = visitor.last_event_id

        other.send_signal(signal.SIGKILL)  # gateway B dies with the visitor on it
        other.wait()
        late = await agent.reply(ack["message"]["conversation_id"], "mentre B era giù")

        moved = clients.tab(visitor)  # the widget reconnects through the balancer: gateway A
        await moved.connect(last_event_id=last)
        frame = await moved.wait_for(lambda f: f.get("event") == "message.updated")
        assert frame["data"]["message"]["id"] == late["message"]["id"]
        assert frame["data"]["message"]["status"] == "sent"
        again = await moved.say("ci sono ancora")
        assert again["message"]["conversation_id"] == ack["message"]["conversation_id"]

        # An agent logged in on B keeps its session on A: sessions live in the database.
        token = await login(services.base_url, email, password)
        roaming = AgentClient(services.base_url, services.ws_url, token)
        clients.made.append(roaming)
        assert (await roaming.connect())["type"] == "ready"
    finally:
        services.stop(other, signal.SIGKILL)
