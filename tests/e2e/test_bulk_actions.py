"""Bulk actions: one change to many conversations; what the agent may not see or cannot
move is reported per id and left alone."""

from __future__ import annotations

from conftest import Services, World, make_world
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import Conversation


async def test_assign_label_and_resolve_many_at_once(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    convs = []
    for n in range(3):
        visitor = await clients.visitor(world.website_token)
        await visitor.connect()
        convs.append((await visitor.say(f"Domanda {n}"))["message"]["conversation_id"])
    stranger = await clients.visitor((await make_world(db)).website_token)
    await stranger.connect()
    theirs = (await stranger.say("Altro team"))["message"]["conversation_id"]

    anna_id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    r = await agent.http.post("/api/conversations/bulk", json={
        "ids": [*convs, theirs], "assignee_id": anna_id, "add_label": "resi"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["updated"] == convs
    assert r.json()["refused"] == [{"id": theirs, "reason": "not_found"}]
    r = await agent.http.post("/api/conversations/bulk", json={"ids": convs, "status": "resolved"})
    assert r.json()["updated"] == convs
    async with db() as session:
        for cid in convs:
            conv = await session.get_one(Conversation, cid)
            assert (conv.assignee_id, conv.labels, conv.status) == (anna_id, ["resi"], "resolved")
        assert (await session.get_one(Conversation, theirs)).labels == []
    bad = await agent.http.post("/api/conversations/bulk", json={"ids": convs})
    assert bad.status_code == 400
    too_many = await agent.http.post("/api/conversations/bulk",
                                     json={"ids": list(range(1, 200)), "status": "open"})  # fmt: skip
    assert too_many.status_code == 400
