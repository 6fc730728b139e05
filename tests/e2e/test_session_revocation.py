"""An agent socket lives only as long as its session: after a logout (at once, on every
gateway), a deactivation or a change of role, it is closed with 4401 and gets nothing
more."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from conftest import World
from crocevia_clients import AgentClient, Clients
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.exceptions import ConnectionClosed

from inbox.model import Agent

pytestmark = pytest.mark.timeout(60)


async def closed_with(agent: AgentClient, within: float) -> int | None:
    assert agent.ws is not None
    try:
        async with asyncio.timeout(within):
            while True:
                await agent.ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    except TimeoutError:
        return None


async def test_logout_closes_the_socket_at_once(clients: Clients, world: World) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect()
    other_tab = await clients.agent(email, password)  # another session of hers stays
    await other_tab.connect()
    r = await agent.http.post("/api/auth/logout")
    assert r.status_code == 200
    assert await closed_with(agent, 0.9) == 4401  # sooner than the periodic check
    assert await closed_with(other_tab, 1.5) is None


@pytest.mark.parametrize("change", [{"active": False}, {"role": "marketing"}])
async def test_deactivation_or_demotion_closes_the_socket(
    clients: Clients, db: async_sessionmaker[AsyncSession], change: dict[str, object]
) -> None:
    from conftest import make_world

    world = await make_world(db, agents=(f"a{secrets.token_hex(2)}",))
    ((agent_id, email, password),) = world.agents.values()
    agent = await clients.agent(email, password)
    await agent.connect()
    async with db() as session, session.begin():
        await session.execute(update(Agent).where(Agent.id == agent_id).values(**change))
    assert await closed_with(agent, 5) == 4401
