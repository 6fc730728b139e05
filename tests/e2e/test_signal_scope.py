"""Marketing and leads of a team read that team's customers: segment counts, members and
exports leave out contacts known only to other teams; admins read everyone."""

from __future__ import annotations

import secrets

import pytest
from conftest import World, make_staff, make_world
from crocevia_clients import AgentClient, Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.timeout(60)


async def staff(clients: Clients, db: async_sessionmaker[AsyncSession], role: str,
                team_id: int | None) -> AgentClient:  # fmt: skip
    made = await clients.agent(*await make_staff(db, role, team_id))
    return made


async def test_a_teams_marketer_reads_only_that_teams_customers(
    clients: Clients, db: async_sessionmaker[AsyncSession], world: World
) -> None:
    team_b = await make_world(db, agents=("bruno",))
    tag = secrets.token_hex(4)
    for website, name in (
        (world.website_token, f"Alba {tag}"),
        (team_b.website_token, f"Berta {tag}"),
    ):
        visitor = await clients.visitor(website, name=name)
        await visitor.connect()
        await visitor.say("Buongiorno")
    marketer_a = await staff(clients, db, "marketing", world.team_id)
    admin = await staff(clients, db, "admin", None)
    rules = {"signal": "messages_in", "op": ">=", "value": 1}
    r = await admin.http.post("/api/segments", json={"name": f"attivi {tag}", "rules": rules})
    assert r.status_code == 201, r.text
    seg = r.json()["id"]

    def names(text: str) -> set[str]:
        return {n for n in (f"Alba {tag}", f"Berta {tag}") if n in text}

    export_a = (await marketer_a.http.get("/api/signals/export", params={"format": "ndjson"})).text
    export_all = (await admin.http.get("/api/signals/export", params={"format": "ndjson"})).text
    assert names(export_a) == {f"Alba {tag}"}
    assert names(export_all) == {f"Alba {tag}", f"Berta {tag}"}
    members_a = (await marketer_a.http.get(f"/api/segments/{seg}/members")).text
    assert names(members_a) == {f"Alba {tag}"}
    count_a = (await marketer_a.http.get(f"/api/segments/{seg}")).json()["count"]
    count_all = (await admin.http.get(f"/api/segments/{seg}")).json()["count"]
    assert count_a < count_all
