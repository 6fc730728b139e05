"""The console's assignee list offers only people who can take the conversation: not
marketing, not someone offline, not an agent of another team."""

from __future__ import annotations

import secrets

import pytest
from browser import open_page
from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent, Team

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def floor(world: World, clients: Clients, db: async_sessionmaker[AsyncSession]) -> World:
    tag = secrets.token_hex(3)
    async with db() as session, session.begin():
        team = await session.get_one(Team, world.team_id)
        other = Team(name=f"altro-{tag}")
        session.add(other)
        for name, role, presence, teams in (
            (f"Bruno {tag}", "agent", "online", [team]),  # can take it
            (f"Carla {tag}", "agent", "offline", [team]),  # offline
            (f"Dario {tag}", "agent", "online", [other]),  # another team
            (f"Elena {tag}", "marketing", "online", [team]),  # does not take conversations
        ):
            session.add(Agent(email=f"{name.split()[0].lower()}-{tag}@example.test", name=name,
                              role=role, presence=presence, teams=teams,
                              password_hash=hash_password(secrets.token_hex(8))))  # fmt: skip
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    await visitor.say("Vorrei parlare con qualcuno")
    return world


def test_the_transfer_list_offers_only_who_can_take_it(
    services: Services, floor: World, browser: object
) -> None:
    _id, email, password = floor.agents["anna"]
    page = open_page(browser, f"{services.base_url}/console/", email, password)
    page.locator("#list li", has_text="Vorrei parlare").click()
    page.locator("#assignee option", has_text="Bruno").wait_for(state="attached")
    offered = page.locator("#assignee option").all_inner_texts()
    assert any(o.startswith("Bruno") for o in offered)
    assert not [o for o in offered if o.split()[0] in ("Carla", "Dario", "Elena")], offered
