"""A team lead sees their teams, not the whole company: live events, the live view and
the conversation list of team B never reach team A's lead; marketing gets no presence."""

from __future__ import annotations

import pytest
from conftest import World, make_staff, make_world
from crocevia_clients import AgentClient, Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.timeout(60)


async def staff(clients: Clients, db: async_sessionmaker[AsyncSession], role: str,
                team_id: int | None) -> AgentClient:  # fmt: skip
    made = await clients.agent(*await make_staff(db, role, team_id))
    await made.connect()
    return made


async def test_a_team_lead_sees_their_team_and_marketing_sees_no_presence(
    clients: Clients, db: async_sessionmaker[AsyncSession], world: World
) -> None:
    team_b = await make_world(db, agents=("bruno",))
    lead_a = await staff(clients, db, "lead", world.team_id)
    marketing = await staff(clients, db, "marketing", None)

    visitor_a = await clients.visitor(world.website_token, name="Alba")
    await visitor_a.connect()
    ack_a = await visitor_a.say("Team A, per favore")
    visitor_b = await clients.visitor(team_b.website_token, name="Berta")
    await visitor_b.connect()
    ack_b = await visitor_b.say("Team B, per favore")

    seen = await lead_a.wait_for(lambda f: f.get("event") == "message.created"
                                 and f["data"]["message"]["id"] == ack_a["message"]["id"])  # fmt: skip
    assert seen
    frames = await lead_a.quiet(1.0)
    assert not [f for f in frames if "Team B" in str(f) or "Berta" in str(f)]

    conv_b = ack_b["message"]["conversation_id"]
    listed = (await lead_a.http.get("/api/conversations", params={"status": "open"})).json()
    ids = {c["id"] for c in listed["conversations"]}
    assert ack_a["message"]["conversation_id"] in ids and conv_b not in ids
    assert (await lead_a.http.get(f"/api/conversations/{conv_b}/messages")).status_code == 404

    live = (await lead_a.http.get("/api/live")).json()
    assert {q["team_id"] for q in live["queues"]} <= {world.team_id, None}
    assert team_b.team_id not in {t for a in live["agents"] for t in a["team_ids"]} or all(
        world.team_id in a["team_ids"] for a in live["agents"])  # fmt: skip

    # Presence changes reach agents and leads, never marketing.
    r = await lead_a.http.patch("/api/me", json={"presence": "busy"})
    assert r.status_code == 200, r.text
    await lead_a.wait_for(lambda f: str(f.get("event", "")).startswith("agent."))
    assert not [
        f for f in await marketing.quiet(1.0) if str(f.get("event", "")).startswith("agent.")
    ]
