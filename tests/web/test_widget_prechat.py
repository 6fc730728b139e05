"""The widget's first screen and its memory, in a real headless Chromium: the pre-chat form
asks what the inbox asks for (the name too) with a consent line, in the shop's colour, the header says one thing
about availability, and after a reload the badge counts only replies not yet seen."""

from __future__ import annotations

import httpx
import pytest
from browser import SHOTS
from conftest import Services, World
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import Inbox

pytestmark = pytest.mark.timeout(120)

CLOSED = {"schedule": {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
          | {"sun": [["09:00", "09:01"]]}}  # fmt: skip


async def _configure(
    db: async_sessionmaker[AsyncSession], world: World, **settings: object
) -> None:
    async with db() as session, session.begin():
        inbox = await session.get_one(Inbox, world.inbox_id)
        inbox.settings = {**inbox.settings, **settings}


@pytest.fixture
async def consenting_inbox(db: async_sessionmaker[AsyncSession], world: World) -> World:
    await _configure(db, world, prechat={"name": "required", "email": "optional"},
                     privacy_url="https://negozio.example.it/privacy", colour="#7c3aed",
                     greeting={"it": "Ciao! Siamo qui.", "en": "Hi! We're here."})  # fmt: skip
    return world


def test_the_prechat_form_asks_for_the_name_with_a_consent_line(
    services: Services, consenting_inbox: World, browser: object
) -> None:
    world = consenting_inbox
    page = browser.new_context(viewport={"width": 390, "height": 844}, locale="it-IT").new_page()  # type: ignore[attr-defined]
    page.goto(f"{services.base_url}/web/demo/shop.html#{world.website_token}")
    page.locator("#crocevia-widget >> .launcher").click()
    name = page.locator("#crocevia-widget >> .pre input[name=name]")
    email = page.locator("#crocevia-widget >> .pre input[name=email]")
    name.wait_for()
    # The shop's own colour, from the inbox settings, on the launcher and the header.
    for part in (".launcher", ".head"):
        colour = page.locator(f"#crocevia-widget >> {part}").evaluate(
            "e => getComputedStyle(e).backgroundColor")  # fmt: skip
        assert colour == "rgb(124, 58, 237)", (part, colour)
    assert name.get_attribute("required") is not None and email.get_attribute("required") is None
    assert "facoltativo" in (email.get_attribute("placeholder") or "")
    link = page.locator("#crocevia-widget >> .consent a")
    assert link.get_attribute("href") == "https://negozio.example.it/privacy"
    assert page.locator("#crocevia-widget >> .head p").inner_text() in ("Ciao! Siamo qui.",
                                                                         "Siamo offline")  # fmt: skip
    button = page.locator("#crocevia-widget >> .pre button").bounding_box()
    assert button is not None and button["height"] >= 44  # a thumb can hit it
    page.screenshot(path=str(SHOTS / "widget-prechat-390.png"))
    name.fill("Marta Rossi")
    page.locator("#crocevia-widget >> .pre button").click()
    page.locator("#crocevia-widget >> textarea").wait_for()


@pytest.fixture
async def closed_inbox(db: async_sessionmaker[AsyncSession], world: World) -> World:
    await _configure(db, world, business_hours=CLOSED, greeting="rispondiamo in pochi minuti")
    return world


def test_outside_hours_the_header_says_offline_and_when_it_reopens(
    services: Services, closed_inbox: World, browser: object
) -> None:
    world = closed_inbox
    page = browser.new_context(locale="it-IT").new_page()  # type: ignore[attr-defined]
    page.goto(f"{services.base_url}/web/demo/shop.html#{world.website_token}")
    page.locator("#crocevia-widget >> .launcher").click()
    header = page.locator("#crocevia-widget >> .head p")
    header.wait_for()
    page.wait_for_function(
        "document.querySelector('#crocevia-widget').shadowRoot.querySelector('.head p')"
        ".textContent.length > 0"
    )
    text = header.inner_text()
    assert text.startswith("Siamo offline · riapriamo domenica"), text
    assert "pochi minuti" not in text
    page.locator("#crocevia-widget >> .pre input[name=email]").wait_for()  # offline: the email


def test_after_a_reload_only_unseen_replies_count_and_the_panel_opens_at_the_newest(
    services: Services, world: World, browser: object
) -> None:
    page = browser.new_context(viewport={"width": 1200, "height": 700}).new_page()  # type: ignore[attr-defined]
    page.goto(f"{services.base_url}/web/demo/shop.html#{world.website_token}")
    page.locator("#crocevia-widget >> .launcher").click()
    box = page.locator("#crocevia-widget >> textarea")
    box.fill("Ciao, una domanda sulle taglie")
    box.press("Enter")
    page.locator("#crocevia-widget >> .msg.in[data-id]:not([data-id=''])").first.wait_for()
    conv = page.evaluate(
        f"JSON.parse(localStorage.getItem('crocevia:{world.website_token}')).visitorToken"
    )
    assert conv
    _id, email, password = world.agents["anna"]
    with httpx.Client(base_url=services.base_url) as http:
        token = http.post("/api/auth/login", json={"email": email, "password": password}).json()[
            "token"
        ]
        auth = {"Authorization": f"Bearer {token}"}
        conv_id = http.get("/api/conversations", params={"view": "all"}, headers=auth).json()[
            "conversations"
        ][0]["id"]

        def reply(text: str) -> None:
            r = http.post(f"/api/conversations/{conv_id}/messages", headers=auth,
                          json={"text": text, "client_id": text[:20]})  # fmt: skip
            assert r.status_code == 201

        for n in range(12):
            reply(f"Risposta numero {n}: la taglia M veste regolare.")
        page.locator("#crocevia-widget >> .msg.out", has_text="Risposta numero 11").wait_for()
        page.reload()
        page.locator("#crocevia-widget >> .launcher").wait_for()
        page.wait_for_timeout(800)
        assert page.locator("#crocevia-widget >> .badge").is_hidden()  # all seen before
        reply("Un'ultima cosa: spediamo domani.")
        badge = page.locator("#crocevia-widget >> .badge")
        badge.wait_for()
        assert badge.inner_text() == "1"
    page.locator("#crocevia-widget >> .launcher").click()
    page.wait_for_function(
        "(() => { const l = document.querySelector('#crocevia-widget').shadowRoot"
        ".querySelector('.list'); return l.scrollTop + l.clientHeight >= l.scrollHeight - 2; })()"
    )


def test_the_visitor_sees_their_messages_read_live_and_after_a_reload(
    services: Services, world: World, browser: object
) -> None:
    page = browser.new_context(locale="it-IT").new_page()  # type: ignore[attr-defined]
    page.goto(f"{services.base_url}/web/demo/shop.html#{world.website_token}")
    page.locator("#crocevia-widget >> .launcher").click()
    box = page.locator("#crocevia-widget >> textarea")
    box.fill("C'è qualcuno?")
    box.press("Enter")
    mine = page.locator("#crocevia-widget >> .msg.in[data-id]:not([data-id=''])")
    mine.locator(".tick", has_text="inviato").wait_for()
    _id, email, password = world.agents["anna"]
    with httpx.Client(base_url=services.base_url) as http:
        token = http.post("/api/auth/login", json={"email": email, "password": password}).json()[
            "token"
        ]
        auth = {"Authorization": f"Bearer {token}"}
        conv_id = page.evaluate(
            "fetch('/api/widget/messages', {headers: {Authorization: 'Bearer ' + JSON.parse("
            f"localStorage.getItem('crocevia:{world.website_token}')).visitorToken}}}})"
            ".then(r => r.json()).then(j => j.conversation_id)"
        )
        assert http.post(f"/api/conversations/{conv_id}/read", headers=auth).status_code == 200
    mine.locator(".tick.read", has_text="letto").wait_for()
    page.reload()
    page.locator("#crocevia-widget >> .launcher").click()
    page.locator("#crocevia-widget >> .msg.in .tick.read", has_text="letto").wait_for()
