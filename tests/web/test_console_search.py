"""The console's search box: a word from an old conversation finds it; clearing the box
brings the list back."""

from __future__ import annotations

import pytest
from browser import open_page
from conftest import Services, World
from crocevia_clients import Clients

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def history(world: World, clients: Clients) -> World:
    for text in ("La spedizione della giacca è in ritardo", "Quando arriva il pacco?"):
        visitor = await clients.visitor(world.website_token)
        await visitor.connect()
        await visitor.say(text)
    return world


def test_searching_a_word_finds_the_conversation(
    services: Services, history: World, browser: object
) -> None:
    _id, email, password = history.agents["anna"]
    page = open_page(browser, f"{services.base_url}/console/", email, password)
    page.locator("#list li", has_text="Quando arriva").wait_for()
    page.fill("#search", "spedizioni")  # another form of the word
    page.locator("#list li.result", has_text="spedizione").wait_for()
    assert page.locator("#list li", has_text="Quando arriva").count() == 0
    page.locator("#list li.result", has_text="spedizione").click()
    page.locator("#messages li", has_text="La spedizione della giacca").wait_for()
    page.fill("#search", "")
    page.locator("#search").press("Escape")
    page.locator("#list li", has_text="Quando arriva").wait_for()
