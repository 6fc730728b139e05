"""The console on a small laptop (1024 px) and a phone (390 px): the customer panel opens
as a drawer, the list and the chat take the screen in turn, nothing scrolls sideways."""

from __future__ import annotations

import pytest
from browser import SHOTS
from conftest import Services, World
from crocevia_clients import Clients

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def waiting(world: World, clients: Clients) -> World:
    visitor = await clients.visitor(world.website_token, name="Marta Rossi")
    await visitor.connect()
    await visitor.say("Il reso è gratuito?")
    return world


def _login(page: object, services: Services, world: World) -> None:
    _id, email, password = world.agents["anna"]
    page.goto(f"{services.base_url}/console/")  # type: ignore[attr-defined]
    page.fill("input[name=email]", email)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]


def _no_sideways_scroll(page: object) -> None:
    assert page.evaluate(  # type: ignore[attr-defined]
        "document.scrollingElement.scrollWidth <= window.innerWidth"
    ), "the page scrolls sideways"


def test_at_1024_px_the_customer_panel_opens_as_a_drawer(
    services: Services, waiting: World, browser: object
) -> None:
    page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()  # type: ignore[attr-defined]
    _login(page, services, waiting)
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
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()  # type: ignore[attr-defined]
    _login(page, services, waiting)
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
