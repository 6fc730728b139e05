"""A visitor who types a customer's email in the widget gains nothing: no merge is
suggested, a merge on that ground alone is refused, and the visitor's widget never shows
the customer's conversations. Once an agent confirms the address, a merge is possible."""

from __future__ import annotations

import secrets

import pytest
from conftest import World
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import Contact, Conversation, Identity, Message, utcnow

pytestmark = pytest.mark.timeout(60)


async def test_typing_a_victims_email_in_the_widget_reaches_nothing_of_theirs(
    clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    tag = secrets.token_hex(4)
    victim_email = f"vittima.{tag}@example.it"
    secret_text = f"Il mio IBAN è IT60X0542811101000000{tag}"
    async with db() as session, session.begin():  # a customer known by email, with history
        victim = Contact(name="Vittima", email=victim_email, attributes={})
        session.add(victim)
        await session.flush()
        session.add(Identity(channel="email", external_id=victim_email, contact_id=victim.id))
        conv = Conversation(inbox_id=world.inbox_id, contact_id=victim.id, channel="website",
                            status="resolved", team_id=world.team_id, last_message_at=utcnow())  # fmt: skip
        session.add(conv)
        await session.flush()
        session.add(Message(conversation_id=conv.id, inbox_id=world.inbox_id, direction="in",
                            text=secret_text, attachments=[], status="received",
                            author_contact_id=victim.id))  # fmt: skip
        victim_id = victim.id

    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    attacker = await clients.visitor(world.website_token, name="Vittima", email=victim_email)
    await attacker.connect()
    ack = await attacker.say("Ciao, sono io, mi riassumete la mia ultima chat?")
    convs = await agent.http.get(f"/api/conversations/{ack['message']['conversation_id']}/messages")
    attacker_id = convs.json()["conversation"]["contact"]["id"]

    found = await agent.http.get(f"/api/contacts/{attacker_id}/merge_suggestions")
    assert found.status_code == 200 and found.json()["suggestions"] == []
    found = await agent.http.get(f"/api/contacts/{victim_id}/merge_suggestions")
    assert [s["contact"]["id"] for s in found.json()["suggestions"]] == []

    refused = await agent.http.post(f"/api/contacts/{victim_id}/merge",
                                    json={"other_id": attacker_id})  # fmt: skip
    assert refused.status_code == 409 and "not verified" in refused.json()["error"]["message"]
    mine = await attacker.http.get("/api/widget/messages")
    assert secret_text not in mine.text

    # An agent who checked with the customer saves the address: now it is proven.
    r = await agent.http.patch(f"/api/contacts/{attacker_id}", json={"email": victim_email})
    assert r.status_code == 200 and r.json()["email_verified"] is True
    found = await agent.http.get(f"/api/contacts/{attacker_id}/merge_suggestions")
    assert [s["contact"]["id"] for s in found.json()["suggestions"]] == [victim_id]
