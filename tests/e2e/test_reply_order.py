"""Replies reach the visitor in the order the agent wrote them — live and after a resume —
however the worker's concurrent jobs happen to finish."""

from __future__ import annotations

import asyncio

import pytest
from conftest import World
from crocevia_clients import Clients

pytestmark = pytest.mark.timeout(90)


async def test_replies_arrive_in_the_order_written_after_a_resume(
    clients: Clients, world: World
) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect()
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    ack = await visitor.say("Ciao, ho tre domande")
    conv = ack["message"]["conversation_id"]
    resume_from = visitor.last_event_id
    await visitor.quiet(0.3)
    resume_from = visitor.last_event_id or resume_from
    await visitor.close()  # a flaky phone connection

    texts = [f"risposta {i}" for i in range(1, 31)]
    await asyncio.gather(*(agent.send({"type": "reply", "client_id": f"r{i}",
                                       "conversation_id": conv, "text": t})
                           for i, t in enumerate(texts)))  # fmt: skip
    ids = []
    for i in range(len(texts)):
        ack_frame = await agent.wait_for(lambda f, i=i: f.get("client_id") == f"r{i}")
        ids.append(ack_frame["message"]["id"])
    written = [t for _, t in sorted(zip(ids, texts, strict=True))]
    for message_id in ids:
        await agent.wait_for(lambda f, m=message_id: f.get("event") == "message.updated"
                             and f["data"]["message"]["id"] == m
                             and f["data"]["message"]["status"] == "sent", timeout=20)  # fmt: skip

    back = clients.tab(visitor)
    await back.connect(last_event_id=resume_from)
    got: list[str] = []
    while len(got) < len(texts):
        frame = await back.wait_for(lambda f: f.get("event") == "message.updated"
                                    and f["data"]["message"]["direction"] == "out")  # fmt: skip
        got.append(frame["data"]["message"]["text"])
    assert got == written
