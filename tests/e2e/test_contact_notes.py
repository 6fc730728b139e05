"""Notes about a customer: written and read by the team that serves them, gone with an
erasure."""

from __future__ import annotations

from conftest import Services, World, make_staff, make_world
from crocevia_clients import Clients
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import ContactNote


async def test_notes_are_the_teams_and_go_with_an_erasure(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    visitor = await clients.visitor(world.website_token, name="Rita Neri")
    await visitor.connect()
    await visitor.say("Buongiorno")
    _id, email, password = world.agents["anna"]
    anna = await clients.agent(email, password)
    listed = (await anna.http.get("/api/conversations", params={"view": "all"})).json()
    contact_id = listed["conversations"][0]["contact"]["id"]

    r = await anna.http.post(f"/api/contacts/{contact_id}/notes",
                             json={"text": "Cliente storica: preferisce l'email"})  # fmt: skip
    assert r.status_code == 201 and r.json()["author"] == "Anna"
    assert (
        await anna.http.post(f"/api/contacts/{contact_id}/notes", json={"text": " "})
    ).status_code == 400
    notes = (await anna.http.get(f"/api/contacts/{contact_id}/notes")).json()["notes"]
    assert [n["text"] for n in notes] == ["Cliente storica: preferisce l'email"]

    stranger = (await make_world(db)).agents["anna"]
    other = await clients.agent(stranger[1], stranger[2])
    assert (await other.http.get(f"/api/contacts/{contact_id}/notes")).status_code == 404
    m_email, m_password = await make_staff(db, "marketing")
    marketer = await clients.agent(m_email, m_password)
    assert (await marketer.http.get(f"/api/contacts/{contact_id}/notes")).status_code == 403

    a_email, a_password = await make_staff(db, "admin")
    admin = await clients.agent(a_email, a_password)
    erased = await admin.http.post(f"/api/contacts/{contact_id}/erase", json={})
    assert erased.status_code == 200, erased.text
    async with db() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(ContactNote)
            .where(ContactNote.contact_id == contact_id)
        )
    assert left == 0
