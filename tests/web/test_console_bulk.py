"""Bulk actions in the console: tick several conversations, take them, label them."""

from __future__ import annotations

import pytest
from browser import open_page
from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def waiting(world: World, clients: Clients) -> list[int]:
    ids = []
    for text in ("Primo cliente", "Secondo cliente"):
        visitor = await clients.visitor(world.website_token)
        await visitor.connect()
        ids.append((await visitor.say(text))["message"]["conversation_id"])
    return ids


def test_ticked_conversations_are_taken_and_labelled_together(
    services: Services, world: World, waiting: list[int], browser: object,
    db: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    _id, email, password = world.agents["anna"]
    page = open_page(browser, f"{services.base_url}/console/", email, password)
    for text in ("Primo cliente", "Secondo cliente"):
        page.locator("#list li", has_text=text).locator("input.pick").check()
    page.locator("#bulk-count", has_text="2").wait_for()
    page.fill("#bulk-label", "resi")
    page.press("#bulk-label", "Enter")
    page.locator("#list li", has_text="Primo cliente").locator(".chip", has_text="resi").wait_for()
    page.locator("#bulk").wait_for(state="hidden")
    for text in ("Primo cliente", "Secondo cliente"):
        page.locator("#list li", has_text=text).locator("input.pick").check()
    page.click("#bulk-mine")
    page.locator("#bulk").wait_for(state="hidden")
    page.click(".tabs [data-view=mine]")
    page.locator("#list li", has_text="Secondo cliente").wait_for()
    assert page.locator("#list li", has_text="Primo cliente").count() == 1
