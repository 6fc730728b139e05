"""A page view makes no contact: the widget session writes nothing until the visitor
writes, fills in the pre-chat form or is identified; then one contact, and the socket that
was open before follows it (the agent's reply reaches it)."""

from __future__ import annotations

import httpx
import pytest
from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from test_visitor_to_agent import agent_for, is_event

from gateway.visitor_tokens import verify
from inbox.model import Contact, Identity

pytestmark = pytest.mark.timeout(60)


async def _counts(db: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with db() as session:
        contacts = await session.scalar(select(func.count()).select_from(Contact))
        identities = await session.scalar(select(func.count()).select_from(Identity))
    return int(contacts or 0), int(identities or 0)


async def test_page_views_make_no_contact_and_the_first_message_makes_one(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    before = await _counts(db)
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        for _ in range(20):  # twenty pages seen, nobody wrote
            r = await http.post("/api/widget/sessions", json={"website_token": world.website_token})
            assert r.status_code == 200 and r.json()["conversation_id"] is None
        token = r.json()["visitor_token"]
        assert verify(services.secret_key, token).contact_id == 0  # type: ignore[union-attr]
        empty = await http.get("/api/widget/messages", headers={"Authorization": f"Bearer {token}"})
        assert empty.status_code == 200 and empty.json()["messages"] == []
    assert await _counts(db) == before

    agent = await agent_for(clients, world)
    await agent.connect()
    visitor = await clients.visitor(world.website_token)
    ready = await visitor.connect()  # opened while there is no contact
    assert ready["conversation_id"] is None
    ack = await visitor.say("Buongiorno, avete la taglia M?")
    assert ack["type"] == "ack"
    made = verify(services.secret_key, ack["visitor_token"])
    assert made is not None and made.contact_id > 0
    assert await _counts(db) == (before[0] + 1, before[1] + 1)
    created = await agent.wait_for(is_event("message.created", id=ack["message"]["id"]))
    conv = created["data"]["conversation"]
    assert conv["contact"]["id"] == made.contact_id

    # The socket opened before the contact existed receives the reply.
    reply = await agent.reply(conv["id"], "Sì, la M è disponibile.")
    seen = await visitor.wait_for(is_event("message.updated", id=reply["message"]["id"]))
    assert seen["data"]["message"]["text"] == "Sì, la M è disponibile."
    # A second message makes no second contact; the old token finds the contact.
    again = await visitor.say("Grazie!")
    assert "visitor_token" not in again
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post("/api/widget/sessions", json={
            "website_token": world.website_token, "visitor_token": visitor.token})  # fmt: skip
        assert r.json()["conversation_id"] == conv["id"]
        assert verify(services.secret_key, r.json()["visitor_token"]).contact_id == made.contact_id  # type: ignore[union-attr]
    assert await _counts(db) == (before[0] + 1, before[1] + 1)


async def test_the_prechat_form_makes_the_contact(
    services: Services, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    before = await _counts(db)
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post("/api/widget/sessions", json={"website_token": world.website_token})
        token = r.json()["visitor_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert (await http.post("/api/widget/contact", json={}, headers=auth)).json() == {}
        assert await _counts(db) == before  # nothing given, nothing kept
        filled = await http.post(
            "/api/widget/contact", json={"name": "Marta Bianchi"}, headers=auth
        )
        assert filled.status_code == 200
        visitor = verify(services.secret_key, filled.json()["visitor_token"])
        assert visitor is not None and visitor.contact_id > 0
    async with db() as session:
        contact = await session.get_one(Contact, visitor.contact_id)
        assert contact.name == "Marta Bianchi"
    assert await _counts(db) == (before[0] + 1, before[1] + 1)
