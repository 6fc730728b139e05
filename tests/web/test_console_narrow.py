"""The console on a small laptop (1024 px) and a phone (390 px): the customer panel opens
as a drawer, the list and the chat take the screen in turn, nothing scrolls sideways."""

from __future__ import annotations

from typing import Any

import pytest
from browser import SHOTS, open_page
from conftest import Services, World
from crocevia_clients import Clients

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def waiting(world: World, clients: Clients) -> World:
    visitor = await clients.visitor(world.website_token, name="Marta Rossi")
    await visitor.connect()
    await visitor.say("Il reso è gratuito?")
    return world


def _console(browser: object, services: Services, world: World, width: int, height: int) -> Any:
    _id, email, password = world.agents["anna"]
    return open_page(browser, f"{services.base_url}/console/", email, password,
                     width=width, height=height)  # fmt: skip


def _no_sideways_scroll(page: object) -> None:
    assert page.evaluate(  # type: ignore[attr-defined]
        "document.scrollingElement.scrollWidth <= window.innerWidth"
    ), "the page scrolls sideways"


def test_at_1024_px_the_customer_panel_opens_as_a_drawer(
    services: Services, waiting: World, browser: object
) -> None:
    page = _console(browser, services, waiting, 1024, 768)
    page.locator("#list li", has_text="Il reso").click()
    customer = page.locator("#customer")
    page.locator("#customer-btn").wait_for()
    assert customer.is_hidden()
    page.click("#customer-btn")
    page.locator("#contact-details dd", has_text="Marta Rossi").wait_for()
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / "console-1024-customer.png"))
    page.keyboard.press("Escape")
    customer.wait_for(state="hidden")


def test_at_390_px_the_list_and_the_chat_take_turns(
    services: Services, waiting: World, browser: object
) -> None:
    page = _console(browser, services, waiting, 390, 844)
    page.locator("#list li", has_text="Il reso").wait_for()
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / "console-390-list.png"))
    page.locator("#list li", has_text="Il reso").click()
    page.locator("#messages li", has_text="Il reso è gratuito?").wait_for()
    assert page.locator("#list").is_hidden() and page.locator("#text").is_visible()
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / "console-390-chat.png"))
    page.click("#customer-btn")
    page.locator("#contact-details dd", has_text="Marta Rossi").wait_for()
    page.click("#customer-close")
    page.click("#back")
    page.locator("#list li", has_text="Il reso").wait_for()
