"""The one live-socket client (web/shared/live_socket.js), on the lead page, whose own
client had no heartbeat: it pings the server every 10 s, drops a socket that stopped
answering within 25 s, and comes back resuming from the last event it applied. The page's
time runs on Playwright's clock; its socket goes through Playwright to the real gateway, so
the test can make the server's side go silent."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import Services, World, make_staff
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def lead(db: async_sessionmaker[AsyncSession], world: World) -> tuple[str, str]:
    return await make_staff(db, "lead", world.team_id)


def wait_until(page: Any, done: Callable[[], bool], what: str, seconds: float = 15) -> None:
    """Poll a condition on the test's side while Playwright delivers the page's events."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(50)


def test_the_lead_page_pings_and_replaces_a_socket_gone_silent(
    services: Services, world: World, lead: tuple[str, str], browser: object
) -> None:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()  # type: ignore[attr-defined]
    page.clock.install()
    sent: list[list[dict[str, Any]]] = []  # per socket, the frames the page sent
    events: list[str] = []  # ids of the event frames the page was given
    pongs: list[float] = []
    silent = {"on": False}  # the first socket's server side stops talking

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        frames: list[dict[str, Any]] = []
        first = not sent
        sent.append(frames)

        def from_page(message: str | bytes) -> None:
            frames.append(json.loads(message))
            server.send(message)

        def from_server(message: str | bytes) -> None:
            if silent["on"] and first:
                return
            frame = json.loads(message)
            if frame.get("type") == "event":
                events.append(frame["id"])
            elif frame.get("type") == "pong":
                pongs.append(time.monotonic())
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket("**/ws/agent", route)
    page.goto(f"{services.base_url}/lead/")
    page.fill("input[name=email]", lead[0])
    page.fill("input[name=password]", lead[1])
    page.click("button[type=submit]")
    page.locator("#conn.on").wait_for()
    assert sent[0][0]["type"] == "auth"

    # An event reaches the page: the last id it applied.
    _id, email, password = world.agents["anna"]
    with httpx.Client(base_url=services.base_url) as http:
        token = http.post("/api/auth/login", json={"email": email, "password": password}).json()
        r = http.put("/api/me/presence", headers={"Authorization": f"Bearer {token['token']}"},
                     json={"presence": "busy"})  # fmt: skip
        assert r.status_code in (200, 204), r.text
    wait_until(page, lambda: bool(events), "an event on the lead's socket")

    # Ten seconds on, the page has pinged; the server's pong keeps the socket.
    page.clock.run_for(10_500)
    wait_until(page, lambda: any(f["type"] == "ping" for f in sent[0]), "a ping")
    wait_until(page, lambda: bool(pongs), "the server's pong")
    assert len(sent) == 1

    # The server goes silent: once the page has heard nothing for 25 s (it looks every
    # 10 s) it gives up on that socket and opens another, resuming from the last event it
    # was given.
    last = events[-1]
    silent["on"] = True
    page.clock.run_for(20_000)
    assert len(sent) == 1  # 20 s of silence are not yet a dead socket
    page.clock.run_for(16_000)  # and the reconnect's backoff, whatever the jitter
    wait_until(page, lambda: len(sent) >= 2 and bool(sent[1]), "a second socket's auth")
    assert sent[1][0]["type"] == "auth"
    assert sent[1][0]["last_event_id"] == last
    page.locator("#conn.on").wait_for()
    assert len(sent) == 2
