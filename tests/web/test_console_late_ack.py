"""A reply's ack can reach the console after the event that the reply was sent (the worker
is quick, the gateway slow to answer): the console keeps showing it sent, not pending.

The browser's socket is routed through Playwright so that the ack is held back until the
"sent" event has passed, which is the order a busy gateway produces now and then.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Services, World
from crocevia_clients import Clients

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def waiting(world: World, clients: Clients) -> World:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    await visitor.say("Il pacco non è ancora arrivato")
    return world


def _sent_event_of(frame: dict[str, Any]) -> str | None:
    """The client id of the reply this frame says was sent, if it is such an event."""
    message = (frame.get("data") or {}).get("message") or {}
    if frame.get("type") == "event" and message.get("status") == "sent":
        return str(message.get("client_id"))
    return None


def test_an_ack_after_the_sent_event_leaves_the_reply_sent(
    services: Services, waiting: World, browser: object
) -> None:
    held: list[str] = []  # acks not forwarded yet
    passed: list[str] = []  # what the page was given, in order

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "ack":
                held.append(str(message))
                return
            ws.send(message)
            passed.append(str(frame.get("type")))
            if (cid := _sent_event_of(frame)) and held:
                for ack in [a for a in held if json.loads(a)["client_id"] == cid]:
                    held.remove(ack)
                    ws.send(ack)
                    passed.append("ack")

        server.on_message(from_server)

    _id, email, password = waiting.agents["anna"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    context.route_web_socket("**/ws/agent", route)
    page = context.new_page()
    page.goto(f"{services.base_url}/console/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.locator("#list li", has_text="Il pacco").click()
    page.locator("#messages li", has_text="Il pacco").wait_for()
    page.fill("#text", "Lo controllo subito")
    page.locator("#text").press("Enter")

    reply = page.locator("#messages li.out", has_text="Lo controllo subito")
    reply.locator(".status", has_text="✓").wait_for()
    page.wait_for_timeout(300)
    assert "ack" in passed, "the ack was never let through"
    assert "✓" in reply.locator(".status").inner_text()
    assert "🕓" not in reply.locator(".status").inner_text()
    assert reply.get_attribute("data-id")
    context.close()
