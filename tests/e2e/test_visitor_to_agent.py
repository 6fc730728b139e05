"""A website visitor and an agent talk through the real gateway, worker, Redis and database."""

from __future__ import annotations

import uuid

import pytest
from conftest import World
from crocevia_clients import AgentClient, Clients, VisitorClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import Conversation, Message

pytestmark = pytest.mark.timeout(60)


async def agent_for(clients: Clients, world: World, name: str = "anna") -> AgentClient:
    _id, email, password = world.agents[name]
    return await clients.agent(email, password)


async def visitor_for(clients: Clients, world: World, **fields: str) -> VisitorClient:
    return await clients.visitor(world.website_token, **fields)


def is_event(name: str, **match: object):  # type: ignore[no-untyped-def]
    def pred(frame: dict) -> bool:  # type: ignore[type-arg]
        if frame.get("type") != "event" or frame.get("event") != name:
            return False
        msg = frame["data"].get("message") or {}
        return all(msg.get(k) == v for k, v in match.items())

    return pred


async def count_messages(db: async_sessionmaker[AsyncSession], **where: object) -> int:
    async with db() as session:
        q = select(func.count()).select_from(Message)
        for k, v in where.items():
            q = q.where(getattr(Message, k) == v)
        return int((await session.execute(q)).scalar_one())


async def test_visitor_message_reaches_agent_and_reply_reaches_visitor(
    clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await agent_for(clients, world)
    await agent.connect()
    visitor = await visitor_for(clients, world, name="Giulia", email="giulia@example.it")
    ready = await visitor.connect()
    assert ready["type"] == "ready" and ready["conversation_id"] is None

    ack = await visitor.say("Buonasera, il mio ordine 1234 non è ancora arrivato")
    assert ack["type"] == "ack"
    stored = ack["message"]
    assert stored["direction"] == "in" and stored["status"] == "received"

    created = await agent.wait_for(is_event("message.created", id=stored["id"]))
    conv = created["data"]["conversation"]
    assert (
        created["data"]["message"]["text"] == "Buonasera, il mio ordine 1234 non è ancora arrivato"
    )
    assert conv["contact"]["name"] == "Giulia" and conv["team_id"] == world.team_id

    reply = await agent.reply(conv["id"], "Buonasera Giulia, controllo subito.")
    assert reply["type"] == "ack" and reply["message"]["status"] == "pending"
    # The agent sees the delivery status change to sent (worker + connector).
    sent = await agent.wait_for(
        is_event("message.updated", id=reply["message"]["id"], status="sent")
    )
    assert sent["data"]["message"]["text"] == "Buonasera Giulia, controllo subito."
    # The visitor gets the reply once it is sent, with the agent's name.
    seen = await visitor.wait_for(is_event("message.updated", id=reply["message"]["id"]))
    assert seen["data"]["message"]["author"]["name"] == "Anna"

    async with db() as session:
        rows = list(
            (
                await session.execute(
                    select(Message)
                    .where(Message.conversation_id == conv["id"])
                    .order_by(Message.id)
                )
            ).scalars()
        )
    assert [(m.direction, m.status) for m in rows] == [("in", "received"), ("out", "sent")]
    assert rows[0].language == "it" and rows[0].sentiment_label is not None


async def test_private_notes_never_reach_the_visitor(clients: Clients, world: World) -> None:
    agent = await agent_for(clients, world)
    await agent.connect()
    visitor = await visitor_for(clients, world)
    await visitor.connect()
    ack = await visitor.say("Hello?")
    conv_id = ack["message"]["conversation_id"]
    note = await agent.reply(conv_id, "internal: customer is VIP", private=True)
    assert note["message"]["private"] is True
    public = await agent.reply(conv_id, "Hi! How can I help?")
    await visitor.wait_for(is_event("message.updated", id=public["message"]["id"]))
    frames = await visitor.quiet(0.5)
    texts = [
        f["data"]["message"]["text"]
        for f in frames
        if f.get("type") == "event" and "message" in f["data"]
    ]
    assert "internal: customer is VIP" not in texts
    history = (await visitor.http.get("/api/widget/messages")).json()
    assert [m["text"] for m in history["messages"]] == ["Hello?", "Hi! How can I help?"]


async def test_a_repeated_delivery_makes_one_message_and_one_event(
    clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await agent_for(clients, world)
    await agent.connect()
    visitor = await visitor_for(clients, world)
    await visitor.connect()
    client_id = str(uuid.uuid4())
    acks = [await visitor.say("Vorrei cambiare taglia", client_id=client_id) for _ in range(3)]
    assert len({a["message"]["id"] for a in acks}) == 1
    message_id = acks[0]["message"]["id"]
    await agent.wait_for(is_event("message.created", id=message_id))
    later = await agent.quiet(1.0)
    assert not [f for f in later if is_event("message.created", id=message_id)(f)]
    assert await count_messages(db, external_id=f"{visitor.session['visitor_id']}:{client_id}") == 1


async def test_agent_reconnecting_with_last_id_gets_exactly_what_it_missed(
    clients: Clients, world: World
) -> None:
    agent = await agent_for(clients, world)
    await agent.connect()
    visitor = await visitor_for(clients, world)
    await visitor.connect()
    first = await visitor.say("message 0")
    await agent.wait_for(is_event("message.created", id=first["message"]["id"]))
    last_id = agent.last_event_id
    await agent.close()

    # 20 messages from two visitors (one visitor may send at most 20 per 10 s).
    other = await visitor_for(clients, world)
    await other.connect()
    sent = [
        (await (visitor if i % 2 else other).say(f"message {i}"))["message"]["id"]
        for i in range(1, 21)
    ]

    await agent.connect(last_event_id=last_id)
    got = await agent.events(20, lambda f: f["event"] == "message.created")
    assert [f["data"]["message"]["id"] for f in got] == sent
    ids = [f["id"] for f in got]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-")))) and len(set(ids)) == 20
    rest = await agent.quiet(0.7)
    assert not [f for f in rest if f.get("type") == "event" and f["event"] == "message.created"]


async def test_visitor_resends_after_reconnect_make_no_new_rows(
    clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    visitor = await visitor_for(clients, world)
    await visitor.connect()
    cids = [str(uuid.uuid4()) for _ in range(5)]
    first = [await visitor.say(f"riga {i}", client_id=cid) for i, cid in enumerate(cids)]
    conv_id = first[0]["message"]["conversation_id"]
    await visitor.close()

    # The page reloads: same visitor token, a new socket, the last three resent.
    again = clients.tab(visitor)
    ready = await again.connect()
    assert ready["conversation_id"] == conv_id
    resent = [await again.say(f"riga {i}", client_id=cids[i]) for i in (2, 3, 4)]
    assert [a["message"]["id"] for a in resent] == [f["message"]["id"] for f in first[2:]]
    assert await count_messages(db, conversation_id=conv_id) == 5


async def test_two_racing_first_messages_open_one_conversation(
    clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    import asyncio

    visitor = await visitor_for(clients, world)
    tabs = [clients.tab(visitor) for _ in range(2)]
    for tab in tabs:
        await tab.connect()
    acks = await asyncio.gather(tabs[0].say("prima scheda"), tabs[1].say("seconda scheda"))
    assert acks[0]["message"]["conversation_id"] == acks[1]["message"]["conversation_id"]
    async with db() as session:
        n = (
            await session.execute(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.inbox_id == world.inbox_id)
            )
        ).scalar_one()
    assert n == 1
