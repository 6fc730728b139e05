"""Console search: full text over the conversations an agent may see, and the customer's
name or email; nothing from another team, nothing for marketing."""

from __future__ import annotations

import secrets

from conftest import Services, World, make_staff, make_world
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def test_search_finds_words_and_customers_the_agent_may_see(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    tag = secrets.token_hex(3)
    mine = await clients.visitor(world.website_token, name=f"Marta Rossi{tag}")
    await mine.connect()
    conv = (await mine.say(f"Vorrei il rimborso dell'ordine {tag}, arrivato rotto"))["message"][
        "conversation_id"
    ]
    other_world = await make_world(db)
    theirs = await clients.visitor(other_world.website_token)
    await theirs.connect()
    await theirs.say(f"Anche io voglio un rimborso per l'ordine {tag}")

    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)

    async def found(q: str) -> list[int]:
        r = await agent.http.get("/api/search", params={"q": q})
        assert r.status_code == 200, r.text
        return [x["conversation"]["id"] for x in r.json()["results"]]

    assert await found(f"rimborsi {tag}") == [conv]  # another word form; not the other team's
    hit = (await agent.http.get("/api/search", params={"q": f"rotto {tag}"})).json()["results"][0]
    assert "rimborso" in hit["snippet"] and hit["message_id"] is not None
    assert await found(f"Rossi{tag}") == [conv]  # the customer's name
    assert await found("   ") == []
    assert await found(f'"zq{tag}" OR 1=1 --') == []  # search syntax and SQL are just words

    email, password = await make_staff(db, "marketing")
    marketer = await clients.agent(email, password)
    assert (await marketer.http.get("/api/search", params={"q": tag})).status_code == 403
