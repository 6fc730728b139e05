"""@mentions in private notes: the colleague named is told at once, finds it later if
offline, and reads it by opening the conversation; never someone of another team."""

from __future__ import annotations

import secrets

from conftest import Services, World, make_world
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.mentions import handles
from inbox.model import Agent, Team


def test_handles_are_read_from_the_note() -> None:
    assert handles("@Giulia puoi vedere? cc @luca.rossi, grazie. mail@example.it") == {
        "giulia", "luca.rossi"}  # fmt: skip
    assert handles("Scrivi a @Niccolò") == {"niccolo"}


async def test_a_mentioned_colleague_is_told_and_reads_it_by_opening_the_conversation(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    tag = secrets.token_hex(3)
    password = secrets.token_urlsafe(10)
    other = await make_world(db)
    async with db() as session, session.begin():
        team = await session.get_one(Team, world.team_id)
        outsider_team = await session.get_one(Team, other.team_id)
        giulia = Agent(
            email=f"giulia{tag}@example.test",
            name=f"Giulia{tag} Bianchi",
            password_hash=hash_password(password),
            teams=[team],
        )
        marco = Agent(email=f"marco{tag}@example.test", name=f"Marco{tag}",
                      password_hash=hash_password(password), teams=[outsider_team])  # fmt: skip
        session.add_all([giulia, marco])
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    conv = (await visitor.say("Il reso non è ancora arrivato"))["message"]["conversation_id"]

    _id, email, anna_password = world.agents["anna"]
    anna = await clients.agent(email, anna_password)
    listener = await clients.agent(giulia.email, password)
    await listener.connect()
    note = await anna.http.post(f"/api/conversations/{conv}/messages", json={
        "text": f"@giulia{tag} puoi controllare? e @marco{tag}", "private": True,
        "client_id": secrets.token_hex(6)})  # fmt: skip
    assert note.status_code == 201, note.text
    told = await listener.wait_for(
        lambda f: (
            f.get("event") == "message.created" and f["data"]["message"]["id"] == note.json()["id"]
        )
    )
    assert told["data"]["mentions"] == [giulia.id]  # Marco, of another team, is not told

    mine = (await listener.http.get("/api/mentions")).json()["mentions"]
    assert [(m["conversation_id"], m["author"]) for m in mine] == [(conv, "Anna")]
    assert (await listener.http.post(f"/api/conversations/{conv}/read")).status_code == 200
    assert (await listener.http.get("/api/mentions")).json()["mentions"] == []
    outsider = await clients.agent(marco.email, password)
    assert (await outsider.http.get("/api/mentions")).json()["mentions"] == []
