"""The customer panel: the agent edits the contact (name, email, phone, lifecycle stage),
sees the customer's CSAT answer for the conversation and leaves a note about them."""

from __future__ import annotations

import pytest
from browser import open_page
from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import CsatResponse

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def rated(world: World, clients: Clients, db: async_sessionmaker[AsyncSession]) -> int:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    conv_id = (await visitor.say("Tutto risolto, grazie"))["message"]["conversation_id"]
    async with db() as session, session.begin():
        session.add(CsatResponse(conversation_id=conv_id, rating=4, comment="Veloci"))
    return int(conv_id)


def test_the_agent_edits_the_contact_and_sees_the_csat_answer(
    services: Services, world: World, rated: int, browser: object,
    db: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    _id, email, password = world.agents["anna"]
    page = open_page(browser, f"{services.base_url}/console/", email, password)
    page.locator("#list li", has_text="Tutto risolto").click()
    page.locator("#contact-details dd", has_text="4/5 — Veloci").wait_for()
    page.click("#contact-edit")
    page.fill("#contact-form input[name=name]", "Lucia Verdi")
    page.fill("#contact-form input[name=phone]", "+39 333 123 4567")
    page.select_option("#contact-form select[name=lifecycle_stage]", "customer")
    page.click("#contact-form button[type=submit]")
    page.locator("#contact-details dd", has_text="Lucia Verdi").wait_for()
    page.locator("#contact-details dd", has_text="Cliente").wait_for()
    page.locator("#past li", has_text="★ 4/5").wait_for()
    page.fill("#contact-note-form textarea", "Preferisce essere chiamata al mattino")
    page.click("#contact-note-form button[type=submit]")
    page.locator("#contact-notes li", has_text="chiamata al mattino").wait_for()
