"""The widget on a shop page and the agent console, in a real headless Chromium."""

from __future__ import annotations

import httpx
import pytest
from browser import SHOTS
from conftest import Services, World

pytestmark = pytest.mark.timeout(120)


def test_visitor_and_agent_talk_through_widget_and_console(
    services: Services, world: World, browser: object
) -> None:
    SHOTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    shop = browser.new_context(viewport={"width": 1200, "height": 800})  # type: ignore[attr-defined]
    page = shop.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{services.base_url}/web/demo/shop.html#{world.website_token}")
    header_box = page.locator("header").bounding_box()
    page.locator("#crocevia-widget >> .launcher").click()
    box = page.locator("#crocevia-widget >> textarea")
    box.fill("Buonasera, il mio ordine 1234 non è arrivato")
    box.press("Enter")
    page.locator("#crocevia-widget >> .msg.in[data-id]:not([data-id=''])").first.wait_for()
    box.fill("<img src=x onerror=alert(1)><script>alert(2)</script>")
    box.press("Enter")
    page.locator("#crocevia-widget >> .msg.in", has_text="<img src=x").wait_for()
    hostile_name = "<img src=x onerror=alert(3)><script>alert(4)</script>"
    status = page.evaluate(
        "name => fetch('/api/widget/contact', {method: 'POST', headers: {'Content-Type': "
        "'application/json', Authorization: 'Bearer ' + JSON.parse(localStorage.getItem("
        f"'crocevia:{world.website_token}')).visitorToken}}, body: JSON.stringify({{name}})}})"
        ".then(r => r.status)",
        hostile_name,
    )
    assert status == 200
    # The shop's own layout and styles are untouched by the widget.
    assert page.locator("header").bounding_box() == header_box
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("Georgia")
    assert page.evaluate("Object.keys(window).filter(k => k.startsWith('Crocevia'))") == [
        "Crocevia"
    ]

    _id, email, password = world.agents["anna"]
    console = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()  # type: ignore[attr-defined]
    console.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    console.goto(f"{services.base_url}/console/")
    console.fill("input[name=email]", email)
    console.fill("input[name=password]", password)
    console.click("button[type=submit]")
    console.locator("#list li", has_text=hostile_name).click()  # the name, as text
    console.locator("#chat-title", has_text=hostile_name).wait_for()
    console.locator("#contact-details dd", has_text=hostile_name).wait_for()
    console.locator("#messages li", has_text="il mio ordine 1234").wait_for()
    console.locator("#messages li", has_text="<img src=x onerror=alert(1)>").wait_for()
    console.fill("#text", "Buonasera! Controllo subito l'ordine 1234.")
    console.press("#text", "Enter")
    console.locator("#messages li.out", has_text="✓").wait_for()

    page.locator("#crocevia-widget >> .msg.out", has_text="Controllo subito").wait_for()
    page.screenshot(path=str(SHOTS / "shop-with-widget.png"))
    console.screenshot(path=str(SHOTS / "console.png"))
    assert dialogs == []  # no script from a message ever ran


def test_a_wrong_set_user_hash_is_refused_with_a_clear_message(
    services: Services, world: World, browser: object
) -> None:
    page = browser.new_context().new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{services.base_url}/web/demo/shop.html#{world.website_token}")
    page.wait_for_function("window.Crocevia !== undefined")
    page.locator("#crocevia-widget >> .launcher").wait_for()
    page.wait_for_function("localStorage.length > 0")
    outcome = page.evaluate(
        "Crocevia.setUser({id: 'customer-42', name: 'Eva', hash: 'deadbeef'})"
        ".then(() => 'linked', e => 'refused')"
    )
    assert outcome == "refused"
    assert any("setUser refused" in e and "hash" in e for e in errors), errors


def test_a_visitor_offline_for_a_while_misses_nothing_and_doubles_nothing(
    services: Services, world: World, browser: object
) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{services.base_url}/web/demo/shop.html#{world.website_token}")
    page.locator("#crocevia-widget >> .launcher").click()
    box = page.locator("#crocevia-widget >> textarea")
    box.fill("prima del blackout")
    box.press("Enter")
    page.locator("#crocevia-widget >> .msg.in[data-id]:not([data-id=''])").first.wait_for()
    conv_id = page.evaluate("fetch('/api/widget/messages', {headers: {Authorization: 'Bearer ' + "
                            "JSON.parse(localStorage.getItem('crocevia:" + world.website_token + "')).visitorToken}})"
                            ".then(r => r.json()).then(j => j.conversation_id)")  # fmt: skip

    _id, email, password = world.agents["anna"]

    def agent_sends_three() -> None:
        with httpx.Client(base_url=services.base_url) as http:
            token = http.post(
                "/api/auth/login", json={"email": email, "password": password}
            ).json()["token"]
            for i in range(3):
                r = http.post(f"/api/conversations/{conv_id}/messages", headers={"Authorization": f"Bearer {token}"},
                              json={"client_id": f"blackout-{i}", "text": f"risposta {i}"})  # fmt: skip
                assert r.status_code == 201

    context.set_offline(True)
    page.evaluate("void 0")
    box.fill("scritto senza rete")
    box.press("Enter")
    agent_sends_three()
    context.set_offline(False)
    for i in range(3):
        page.locator("#crocevia-widget >> .msg.out", has_text=f"risposta {i}").wait_for(
            timeout=40_000
        )
    page.locator(
        "#crocevia-widget >> .msg.in[data-id]:not([data-id=''])", has_text="scritto senza rete"
    ).wait_for(timeout=40_000)
    page.wait_for_timeout(1000)
    texts = page.locator("#crocevia-widget >> .msg").all_inner_texts()
    for i in range(3):
        assert sum(f"risposta {i}" in t for t in texts) == 1
    order = [next(n for n, t in enumerate(texts) if f"risposta {i}" in t) for i in range(3)]
    ids = page.locator("#crocevia-widget >> .msg").evaluate_all(
        "ns => ns.map(n => +n.getAttribute('data-id'))"
    )
    assert ids == sorted(ids) and all(ids), ids  # every message stored, in stored order
    assert order == sorted(order)  # shown in the conversation's order, not the sending order
    assert sum("scritto senza rete" in t for t in texts) == 1
    page.screenshot(path=str(SHOTS / "widget-after-reconnect.png"))
