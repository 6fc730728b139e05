"""What an agent does to a conversation besides replying: labels, transfer, snooze, presence,
canned responses. Through the real gateway, worker (its timers wake snoozed ones) and Redis."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from conftest import World
from crocevia_clients import AgentClient, Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent, Team

pytestmark = pytest.mark.timeout(60)


async def conversation_with(clients: Clients, world: World, agent: AgentClient) -> int:
    visitor = await clients.visitor(world.website_token, name="Marta")
    await visitor.connect()
    ack = await visitor.say("Vorrei cambiare taglia")
    conv_id = int(ack["message"]["conversation_id"])
    await agent.wait_for(lambda f: f.get("event") == "message.created")
    return conv_id


async def test_labels_are_normalised_filtered_and_refused_when_malformed(
    clients: Clients, world: World
) -> None:
    _id, email, password = world.agents["anna"]
    anna = await clients.agent(email, password)
    await anna.connect()
    conv_id = await conversation_with(clients, world, anna)

    r = await anna.http.patch(f"/api/conversations/{conv_id}", json={"labels": ["VIP", "reso"]})
    assert r.status_code == 200 and r.json()["labels"] == ["reso", "vip"]
    updated = await anna.wait_for(lambda f: f.get("event") == "conversation.updated")
    assert updated["data"]["conversation"]["labels"] == ["reso", "vip"]

    listed = (await anna.http.get("/api/conversations", params={"label": "vip"})).json()
    assert [c["id"] for c in listed["conversations"]] == [conv_id]
    # "vi" is a prefix of "vip": the filter matches whole labels only.
    assert (await anna.http.get("/api/conversations?label=vi")).json()["conversations"] == []

    bad = await anna.http.patch(f"/api/conversations/{conv_id}", json={"labels": ['x"y']})
    assert bad.status_code == 400 and "label" in bad.json()["error"]["message"]
    bad = await anna.http.patch(f"/api/conversations/{conv_id}", json={"labels": "vip"})
    assert bad.status_code == 400


async def test_transfer_to_a_team_leaves_it_unassigned_in_that_queue(
    clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session, session.begin():
        other = Team(name=f"resi-{secrets.token_hex(3)}")
        session.add(other)
        await session.flush()
        other_id = other.id
    agent_id, email, password = world.agents["anna"]
    anna = await clients.agent(email, password)
    await anna.connect()
    conv_id = await conversation_with(clients, world, anna)
    r = await anna.http.patch(f"/api/conversations/{conv_id}", json={"assignee_id": agent_id})
    assert r.json()["assignee_id"] == agent_id

    r = await anna.http.patch(f"/api/conversations/{conv_id}", json={"team_id": other_id})
    assert r.status_code == 200
    assert r.json()["team_id"] == other_id and r.json()["assignee_id"] is None
    missing = await anna.http.patch(f"/api/conversations/{conv_id}", json={"team_id": 999_999})
    assert missing.status_code == 404  # no longer visible to anna: another team's now


async def test_a_snoozed_conversation_wakes_up_on_time(clients: Clients, world: World) -> None:
    _id, email, password = world.agents["anna"]
    anna = await clients.agent(email, password)
    await anna.connect()
    conv_id = await conversation_with(clients, world, anna)

    past = await anna.http.patch(
        f"/api/conversations/{conv_id}",
        json={"status": "snoozed", "snoozed_until": "2020-01-01T00:00:00+01:00"},
    )
    assert past.status_code == 400
    naive = await anna.http.patch(
        f"/api/conversations/{conv_id}",
        json={"status": "snoozed", "snoozed_until": "2030-01-01T10:00:00"},
    )
    assert naive.status_code == 400 and "zone" in naive.json()["error"]["message"]

    wake = datetime.now(UTC) + timedelta(seconds=2)
    r = await anna.http.patch(
        f"/api/conversations/{conv_id}",
        json={"status": "snoozed", "snoozed_until": wake.isoformat()},
    )
    assert r.status_code == 200 and r.json()["status"] == "snoozed"
    woke = await anna.wait_for(
        lambda f: (
            f.get("event") == "conversation.updated"
            and f["data"]["conversation"]["status"] == "open"
        ),
        timeout=15,
    )
    assert woke["data"]["conversation"]["snoozed_until"] is None
    assert datetime.now(UTC) >= wake


async def test_presence_reaches_colleagues_and_settings_are_checked(
    clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    from conftest import make_world

    world = await make_world(db, agents=("anna", "bruno"))
    anna = await clients.agent(*world.agents["anna"][1:])
    bruno = await clients.agent(*world.agents["bruno"][1:])
    await anna.connect()
    await bruno.connect()

    r = await bruno.http.patch("/api/me", json={"presence": "busy", "language": "en"})
    assert r.status_code == 200 and r.json()["presence"] == "busy"
    seen = await anna.wait_for(lambda f: f.get("event") == "agent.updated")
    assert seen["data"]["agent"] == {
        "id": world.agents["bruno"][0], "name": "Bruno", "role": "agent", "presence": "busy",
        "team_ids": [world.team_id],
    }  # fmt: skip

    assert (await bruno.http.patch("/api/me", json={"timezone": "Europe/Rom"})).status_code == 400
    assert (await bruno.http.patch("/api/me", json={"language": "de"})).status_code == 400
    assert (await bruno.http.patch("/api/me", json={"presence": "away"})).status_code == 400
    ok = await bruno.http.patch("/api/me", json={"timezone": "America/New_York"})
    assert ok.json()["timezone"] == "America/New_York" and ok.json()["language"] == "en"


async def test_only_admins_and_leads_edit_canned_responses(
    clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    password = secrets.token_urlsafe(10)
    async with db() as session, session.begin():
        lead = Agent(email=f"lead-{secrets.token_hex(3)}@example.test", name="Lea", role="lead",
                     password_hash=hash_password(password))  # fmt: skip
        session.add(lead)
    lea = await clients.agent(lead.email, password)
    anna = await clients.agent(*world.agents["anna"][1:])
    code = f"spedizione{secrets.token_hex(2)}"
    text = "Ciao {{contact.name}}, il tuo ordine parte oggi."

    refused = await anna.http.post("/api/canned_responses", json={"short_code": code, "text": text})
    assert refused.status_code == 403
    made = await lea.http.post("/api/canned_responses", json={"short_code": code, "text": text})
    assert made.status_code == 201
    again = await lea.http.post("/api/canned_responses", json={"short_code": code, "text": "x"})
    assert again.status_code == 409
    bad = await lea.http.post("/api/canned_responses", json={"short_code": "a b", "text": "x"})
    assert bad.status_code == 400
    listed = (await anna.http.get("/api/canned_responses")).json()
    assert {"id": made.json()["id"], "short_code": code, "text": text} in listed
    assert (await anna.http.delete(f"/api/canned_responses/{made.json()['id']}")).status_code == 403
    assert (await lea.http.delete(f"/api/canned_responses/{made.json()['id']}")).status_code == 200
    assert all(
        c["short_code"] != code for c in (await anna.http.get("/api/canned_responses")).json()
    )


async def test_the_same_reply_sent_several_times_at_once_is_stored_once(
    clients: Clients, world: World
) -> None:
    """A flaky network resends a reply while the first copy is being stored: every copy
    gets an answer (no 500, no error logged), and one message exists."""
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    conv = (await visitor.say("Ci siete?"))["message"]["conversation_id"]
    body = {"text": "Sì, eccomi", "client_id": "resend-1"}
    answers = await asyncio.gather(*(agent.http.post(f"/api/conversations/{conv}/messages",
                                                     json=body) for _ in range(12)))  # fmt: skip
    assert sorted({r.status_code for r in answers}) in ([200, 201], [201])
    assert len({r.json()["id"] for r in answers}) == 1
