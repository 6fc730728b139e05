"""The label catalogue over the API: leads and admins keep it, every agent reads it; bad
names and colours are refused by name; removing a label leaves it on conversations."""

from __future__ import annotations

import uuid

import httpx
import pytest
from conftest import Services, World, make_staff
from crocevia_clients import Clients, login
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import AuditEntry

pytestmark = pytest.mark.timeout(60)


async def _client(services: Services, db: async_sessionmaker[AsyncSession], role: str,
                  team_id: int | None = None) -> httpx.AsyncClient:  # fmt: skip
    email, password = await make_staff(db, role, team_id)
    token = await login(services.base_url, email, password)
    return httpx.AsyncClient(base_url=services.base_url,
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip


async def test_leads_keep_the_catalogue_and_agents_read_it(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    name = f"Spedizione {uuid.uuid4().hex[:6]}"
    slug = name.lower().replace(" ", "-")
    async with await _client(services, db, "lead", world.team_id) as lead, \
            await _client(services, db, "agent", world.team_id) as agent:  # fmt: skip
        r = await lead.post("/api/labels", json={"name": name, "colour": "#0B6E4F",
                                                 "description": "Ritardi del corriere"})  # fmt: skip
        assert r.status_code == 201, r.text
        made = r.json()
        assert (made["name"], made["colour"]) == (slug, "#0b6e4f")
        assert (await lead.post("/api/labels", json={"name": name.upper()})).status_code == 409
        for body, word in (({"name": "no/slash"}, "label"), ({"name": "ok-name", "colour": "red"}, "colour"),
                           ({"name": "x" * 41}, "label"), ({"colour": "#000000"}, "label")):  # fmt: skip
            bad = await lead.post("/api/labels", json=body)
            assert bad.status_code == 400 and word in bad.json()["error"]["message"], bad.text
        assert (await agent.post("/api/labels", json={"name": "mio"})).status_code == 403

        listed = (await agent.get("/api/labels")).json()
        row = next(x for x in listed if x["name"] == slug)
        assert (row["colour"], row["description"]) == ("#0b6e4f", "Ritardi del corriere")
        recoloured = await lead.patch(f"/api/labels/{made['id']}", json={"colour": "#c2410c"})
        assert recoloured.status_code == 200 and recoloured.json()["colour"] == "#c2410c"
        renamed = await lead.patch(f"/api/labels/{made['id']}", json={"name": "altro"})
        assert renamed.status_code == 400

        # On a conversation, then removed from the catalogue: the conversation keeps it.
        visitor = await clients.visitor(world.website_token)
        await visitor.connect()
        said = await visitor.say("Il pacco è in ritardo")
        conv_id = said["message"]["conversation_id"]
        assert (await agent.patch(f"/api/conversations/{conv_id}",
                                  json={"labels": [slug]})).status_code == 200  # fmt: skip
        assert (await lead.delete(f"/api/labels/{made['id']}")).status_code == 204
        assert slug not in {row["name"] for row in (await agent.get("/api/labels")).json()}
        convs = (await agent.get("/api/conversations", params={"status": "any"})).json()
        (conv,) = [c for c in convs["conversations"] if c["id"] == conv_id]
        assert conv["labels"] == [slug]

    async with db() as session:
        actions = set((await session.execute(
            select(AuditEntry.action).where(AuditEntry.target_type == "label",
                                            AuditEntry.target_id == str(made["id"])))).scalars())  # fmt: skip
    assert actions == {"label.created", "label.updated", "label.deleted"}
