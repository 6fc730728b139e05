"""Console shortcuts read the physical key: on macOS Option+J types "∆", not "j"."""

from __future__ import annotations

import pytest
from browser import open_page
from conftest import Services, World
from crocevia_clients import Clients

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def two_waiting(world: World, clients: Clients) -> World:
    for text in ("Prima domanda", "Seconda domanda"):
        visitor = await clients.visitor(world.website_token)
        await visitor.connect()
        await visitor.say(text)
    return world


def test_option_j_on_a_mac_moves_to_the_next_conversation(
    services: Services, two_waiting: World, browser: object
) -> None:
    _id, email, password = two_waiting.agents["anna"]
    page = open_page(browser, f"{services.base_url}/console/", email, password)
    page.locator("#list li", has_text="domanda").nth(1).wait_for()
    page.locator("#list li").first.click()
    first = page.locator("#list li[aria-current=true]").inner_text()
    # What a Mac sends for Option+J: key "∆", code "KeyJ".
    page.evaluate("document.body.dispatchEvent(new KeyboardEvent('keydown', "
                  "{key: '∆', code: 'KeyJ', altKey: true, bubbles: true}))")  # fmt: skip
    page.wait_for_function(
        "t => document.querySelector('#list li[aria-current=true]')?.innerText !== t", arg=first
    )
