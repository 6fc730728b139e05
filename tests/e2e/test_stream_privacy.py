"""Erased personal data is gone from the Redis event stream as well, and no socket may
resume from further back than the resume window (or from the very start, "0-0")."""

from __future__ import annotations

import secrets

import httpx
import pytest
from conftest import Services, World
from crocevia_clients import AgentClient, Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent

pytestmark = pytest.mark.timeout(60)


async def admin(clients: Clients, db: async_sessionmaker[AsyncSession]) -> AgentClient:
    password = secrets.token_urlsafe(10)
    async with db() as session, session.begin():
        agent = Agent(email=f"adm-{secrets.token_hex(4)}@example.test", name="Ada", role="admin",
                      password_hash=hash_password(password))  # fmt: skip
        session.add(agent)
    return await clients.agent(agent.email, password)


async def tip(services: Services, agent: AgentClient) -> str:
    r = await agent.http.get("/api/conversations", params={"status": "open"})
    return str(r.json()["last_event_id"])


async def test_an_erased_contact_cannot_be_read_back_by_resuming(
    services: Services, clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    ada = await admin(clients, db)
    someone = await clients.visitor(world.website_token)  # the stream is not empty
    await someone.connect()
    await someone.say("Buongiorno")
    before = await tip(services, ada)
    tag = secrets.token_hex(4)
    visitor = await clients.visitor(world.website_token, name=f"Lucia {tag}",
                                    email=f"lucia.{tag}@example.it")  # fmt: skip
    await visitor.connect()
    ack = await visitor.say(f"Il mio codice fiscale è RSSLCU{tag}")
    conv = ack["message"]["conversation_id"]
    contact_id = (await ada.http.get(f"/api/conversations/{conv}/messages")).json()[
        "conversation"]["contact"]["id"]  # fmt: skip
    r = await ada.http.post(f"/api/contacts/{contact_id}/erase")
    assert r.status_code == 200, r.text
    assert r.json()["erased"]["stream_entries_deleted"] >= 2

    await ada.connect(last_event_id=before)
    replayed = await ada.quiet(1.5)
    assert not [f for f in replayed if tag in str(f)], "the stream still holds erased data"


async def test_a_resume_from_the_start_or_beyond_the_window_is_told_to_resync(
    services: Services, clients: Clients, world: World
) -> None:
    _id, email, password = world.agents["anna"]
    for old in ("0-0", "1000000000000-0"):
        agent = await clients.agent(email, password)
        await agent.connect(last_event_id=old)
        frames = await agent.quiet(1.0)
        assert frames and frames[0]["type"] == "resync", frames[:3]
        assert not [f for f in frames if f.get("type") == "event"]
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        assert (await http.get("/healthz")).status_code == 200
