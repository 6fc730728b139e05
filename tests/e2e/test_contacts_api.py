"""Contacts over the real gateway: merge suggestions, merge and undo, edits and lifecycle,
the widget's setUser attributes, export and erasure, and who may do each."""

from __future__ import annotations

import secrets

import pytest
from conftest import World
from crocevia_clients import AgentClient, Clients, VisitorClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from gateway.visitor_tokens import identity_hash
from inbox.model import Agent, Team

pytestmark = pytest.mark.timeout(60)
Sessions = async_sessionmaker[AsyncSession]


async def staff(clients: Clients, db: Sessions, world: World, role: str) -> AgentClient:
    password = secrets.token_urlsafe(10)
    async with db() as session, session.begin():
        team = await session.get_one(Team, world.team_id)
        agent = Agent(email=f"{role}-{secrets.token_hex(4)}@example.test", name=role.title(), role=role,
                      password_hash=hash_password(password), teams=[team])  # fmt: skip
        session.add(agent)
    return await clients.agent(agent.email, password)


async def anna(clients: Clients, world: World) -> AgentClient:
    _id, email, password = world.agents["anna"]
    return await clients.agent(email, password)


async def writes(
    clients: Clients, world: World, text: str, **fields: str
) -> tuple[VisitorClient, int]:
    visitor = await clients.visitor(world.website_token, **fields)
    await visitor.connect()
    ack = await visitor.say(text)
    return visitor, int(ack["message"]["conversation_id"])


async def contact_of(agent: AgentClient, conv_id: int) -> int:
    r = await agent.http.get(f"/api/conversations/{conv_id}/messages")
    return int(r.json()["conversation"]["contact"]["id"])


async def test_suggest_merge_and_undo(clients: Clients, world: World, db: Sessions) -> None:
    tag = secrets.token_hex(4)
    agent = await anna(clients, world)
    await agent.connect()
    marketing = await staff(clients, db, world, "marketing")
    _v1, conv1 = await writes(
        clients, world, "Dove è il mio ordine?", name="Marta", email=f"marta.{tag}@example.it"
    )
    _v2, conv2 = await writes(clients, world, "Ciao, sono Marta", email=f"Marta.{tag}@Example.it")
    kept, other = await contact_of(agent, conv1), await contact_of(agent, conv2)
    # Addresses typed in the widget prove nothing until an agent confirms them.
    assert (await agent.http.get(f"/api/contacts/{kept}/merge_suggestions")).json() == {
        "suggestions": []}  # fmt: skip
    for contact_id, email in (
        (kept, f"marta.{tag}@example.it"),
        (other, f"Marta.{tag}@Example.it"),
    ):
        r = await agent.http.patch(f"/api/contacts/{contact_id}", json={"email": email})
        assert r.status_code == 200, r.text

    r = await agent.http.get(f"/api/contacts/{kept}/merge_suggestions")
    assert r.status_code == 200
    assert [(s["contact"]["id"], s["reasons"]) for s in r.json()["suggestions"]] == [
        (other, ["email"])
    ]
    assert (await marketing.http.get(f"/api/contacts/{kept}/merge_suggestions")).status_code == 403
    refused = await marketing.http.post(f"/api/contacts/{kept}/merge", json={"other_id": other})
    assert refused.status_code == 403

    r = await agent.http.post(f"/api/contacts/{kept}/merge", json={"other_id": other})
    assert r.status_code == 201, r.text
    merge = r.json()["merge"]
    assert merge["kept_contact_id"] == kept and merge["undo_until"]
    (fold,) = merge["moved"]["folded"]  # both had an open chat in this inbox
    assert (fold["conversation_id"], fold["into_id"]) == (conv2, conv1)
    event = await agent.wait_for(lambda f: f.get("event") == "conversation.updated"
                                 and (f["data"].get("contact_merge") or {}).get("id") == merge["id"])  # fmt: skip
    assert event["data"]["conversation"]["contact"]["id"] == kept
    history = (await agent.http.get(f"/api/conversations/{conv1}/messages")).json()["messages"]
    assert [m["text"] for m in history] == ["Dove è il mio ordine?", "Ciao, sono Marta"]
    assert (await agent.http.get(f"/api/contacts/{kept}")).json()["identities"].__len__() == 2
    # The merged contact has no conversation of its own any more: an agent no longer sees it.
    again = await agent.http.post(f"/api/contacts/{kept}/merge", json={"other_id": other})
    assert again.status_code == 404
    assert (
        await agent.http.post(f"/api/contacts/{kept}/merge", json={"other_id": kept})
    ).status_code == 409

    assert (await marketing.http.post(f"/api/contact_merges/{merge['id']}/undo")).status_code == 403
    r = await agent.http.post(f"/api/contact_merges/{merge['id']}/undo")
    assert r.status_code == 200 and r.json()["merge"]["undone_at"]
    assert await contact_of(agent, conv2) == other
    r = await agent.http.post(f"/api/contact_merges/{merge['id']}/undo")
    assert r.status_code == 409 and "undone already" in r.json()["error"]["message"]
    assert (await agent.http.post("/api/contact_merges/999999999/undo")).status_code == 404


async def test_edits_lifecycle_and_set_user_attributes(
    clients: Clients, world: World, db: Sessions
) -> None:
    agent = await anna(clients, world)
    marketing = await staff(clients, db, world, "marketing")
    visitor, conv = await writes(clients, world, "Avete la taglia M?")
    cid = await contact_of(agent, conv)

    r = await agent.http.patch(f"/api/contacts/{cid}", json={"name": "Marta Bianchi", "phone": "333 123 4567",
                                                              "lifecycle_stage": "prospect"})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["phone"], body["lifecycle_stage"]) == (
        "Marta Bianchi",
        "+393331234567",
        "prospect",
    )
    assert body["lifecycle_history"][-1]["source"] == "agent"
    for bad in ({"lifecycle_stage": "vip"}, {"phone": "12"}, {"email": "no"}, {"colour": "red"}):
        assert (await agent.http.patch(f"/api/contacts/{cid}", json=bad)).status_code == 400, bad
    assert (
        await marketing.http.patch(f"/api/contacts/{cid}", json={"name": "X"})
    ).status_code == 403

    user_id = f"shop-{secrets.token_hex(4)}"
    proof = identity_hash(world.hmac_secret, user_id)
    nested = await visitor.http.post("/api/widget/identify",
                                     json={"id": user_id, "hash": proof, "attributes": {"a": {"b": 1}}})  # fmt: skip
    assert nested.status_code == 400
    r = await visitor.http.post("/api/widget/identify", json={
        "id": user_id, "hash": proof, "attributes": {"orders_count": 2, "plan": "gold"}})  # fmt: skip
    assert r.status_code == 200, r.text
    got = (await agent.http.get(f"/api/contacts/{cid}")).json()
    assert got["contact"]["lifecycle_stage"] == "customer"
    assert got["contact"]["attributes"] == {"orders_count": 2, "plan": "gold"}
    assert [(h["to_stage"], h["source"]) for h in got["lifecycle_history"]][-2:] == [
        ("prospect", "agent"), ("customer", "site")]  # fmt: skip


async def test_export_and_erase_are_for_admins(
    clients: Clients, world: World, db: Sessions
) -> None:
    agent = await anna(clients, world)
    admin = await staff(clients, db, world, "admin")
    marketing = await staff(clients, db, world, "marketing")
    tag = secrets.token_hex(4)
    visitor, conv = await writes(clients, world, f"Mi chiamo Lucia {tag}", name=f"Lucia {tag}")
    cid = await contact_of(agent, conv)

    for who in (agent, marketing):
        assert (await who.http.get(f"/api/contacts/{cid}/export")).status_code == 403
        assert (await who.http.post(f"/api/contacts/{cid}/erase")).status_code == 403
    r = await admin.http.get(f"/api/contacts/{cid}/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    data = r.json()
    assert data["contact"]["name"] == f"Lucia {tag}"
    assert [m["text"] for m in data["conversations"][0]["messages"]] == [f"Mi chiamo Lucia {tag}"]
    audit = (await admin.http.get("/api/audit", params={"action": "contact.exported"})).json()[
        "entries"
    ]
    assert any(e["target_id"] == str(cid) for e in audit)

    r = await admin.http.post(f"/api/contacts/{cid}/erase")
    assert r.status_code == 200, r.text
    assert r.json()["erased"]["messages"] == 1
    got = (await admin.http.get(f"/api/contacts/{cid}")).json()
    assert (
        got["contact"]["name"] is None and got["contact"]["erased_at"] and got["identities"] == []
    )
    history = (await admin.http.get(f"/api/conversations/{conv}/messages")).json()["messages"]
    assert [m["text"] for m in history] == ["[erased]"]
    assert (await admin.http.post(f"/api/contacts/{cid}/erase")).status_code == 409
    assert (await admin.http.get("/api/contacts/999999999/export")).status_code == 404
    # The erased visitor's widget starts afresh, as a new contact.
    resumed = await visitor.http.post("/api/widget/sessions", json={
        "website_token": world.website_token, "visitor_token": visitor.session["visitor_token"]})  # fmt: skip
    assert resumed.status_code == 200
    assert resumed.json()["visitor_id"] != visitor.session["visitor_id"]
    assert resumed.json()["conversation_id"] is None
