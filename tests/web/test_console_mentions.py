"""A colleague's @mention in the console: the "@" button counts it, lists it, and opening
the conversation reads it."""

from __future__ import annotations

import secrets

import httpx
import pytest
from browser import open_page
from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent, Team

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def giulia(world: World, clients: Clients, db: async_sessionmaker[AsyncSession]) -> dict:  # type: ignore[type-arg]
    tag, password = secrets.token_hex(3), secrets.token_urlsafe(10)
    async with db() as session, session.begin():
        team = await session.get_one(Team, world.team_id)
        agent = Agent(email=f"giulia{tag}@example.test", name=f"Giulia{tag}", presence="online",
                      password_hash=hash_password(password), teams=[team])  # fmt: skip
        session.add(agent)
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    conv = (await visitor.say("Serve una mano sul reso"))["message"]["conversation_id"]
    return {"email": agent.email, "password": password, "handle": f"giulia{tag}", "conv": conv}


def test_a_mention_is_counted_listed_and_read(
    services: Services,
    world: World,
    giulia: dict,
    browser: object,  # type: ignore[type-arg]
) -> None:
    page = open_page(browser, f"{services.base_url}/console/", giulia["email"], giulia["password"])
    page.locator("#list li", has_text="Serve una mano").wait_for()
    _id, email, password = world.agents["anna"]
    with httpx.Client(base_url=services.base_url) as http:
        token = http.post("/api/auth/login", json={"email": email, "password": password}).json()[
            "token"
        ]
        r = http.post(f"/api/conversations/{giulia['conv']}/messages",
                      headers={"Authorization": f"Bearer {token}"},
                      json={"text": f"@{giulia['handle']} ci pensi tu?", "private": True,
                            "client_id": secrets.token_hex(6)})  # fmt: skip
        assert r.status_code == 201
    page.locator("#mentions-count", has_text="1").wait_for()
    page.click("#mentions-btn")
    page.locator("#mentions-list button", has_text="ci pensi tu?").click()
    page.locator("#messages li", has_text="ci pensi tu?").wait_for()
    page.locator("#mentions-btn").wait_for(state="hidden")
