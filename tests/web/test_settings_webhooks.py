"""The settings page in a real headless Chromium: an admin makes an API inbox for the
shop's app and an outbound webhook; the app's message comes in with the token the page
showed once, the webhook's receiver gets the event, and the page's log shows it sent."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from browser import SHOTS, open_page
from conftest import Services, make_staff
from http_receiver import receiving
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def admin(db: async_sessionmaker[AsyncSession]) -> tuple[str, str]:
    return await make_staff(db, "admin")


def _wait(check: object, timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while not (found := check()):  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return found


def _no_sideways_scroll(page: object) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= page.evaluate("window.innerWidth"), "the page scrolls sideways"  # type: ignore[attr-defined]


def test_an_api_inbox_and_a_webhook_are_set_up_from_the_page(
    services: Services, admin: tuple[str, str], browser: object
) -> None:
    errors: list[str] = []
    with receiving() as app, receiving() as erp:
        page = open_page(browser, f"{services.base_url}/settings/", *admin, locale="it-IT")
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.locator("#inbox-list").wait_for()

        # The API inbox: its token is shown once, with the URL the app posts to.
        page.click("#new-inbox")
        page.fill("#inbox-form input[name=name]", "App del negozio")
        page.select_option("#inbox-form select[name=channel]", "api")
        page.fill("#inbox-form input[name=reply_url]", f"{app.url}/risposte")
        page.click("#inbox-form button[type=submit]")
        note = page.locator("#notice")
        note.filter(has_text="Token dell'API").wait_for()
        shown = note.inner_text()
        token = re.search(r"mostrato\): (\S+) ·", shown).group(1)  # type: ignore[union-attr]
        hook_path = re.search(r"http://\S+(/webhooks/api/\d+)", shown).group(1)  # type: ignore[union-attr]
        page.locator("#inbox-list tbody tr", has_text="App del negozio").wait_for()
        assert (
            "App (API)"
            in page.locator("#inbox-list tbody tr", has_text="App del negozio").inner_text()
        )

        # The webhook, for new messages only.
        page.click("#tab-webhooks")
        page.fill("#webhook-form input[name=url]", f"{erp.url}/crocevia")
        page.fill("#webhook-form input[name=description]", "ERP del magazzino")
        page.check("#webhook-events input[value='message.created']")
        page.click("#webhook-form button[type=submit]")
        note.filter(has_text="Segreto di firma").wait_for()
        row = page.locator("#webhook-list tbody tr", has_text=f"{erp.url}/crocevia")
        row.wait_for()
        assert "message.created" in row.inner_text() and "attivo" in row.inner_text()
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "settings-webhooks-1280.png"), full_page=True)

        # The app's message comes in with the token the page showed; the webhook fires.
        r = httpx.post(f"{services.base_url}{hook_path}", headers={"Authorization": f"Bearer {token}"}, json={
            "messages": [{"id": "ord-77", "text": "Dov'è il mio ordine?",
                          "contact": {"id": "cliente-9", "name": "Paolo"}}]})  # fmt: skip
        assert r.status_code == 200 and r.json()["stored"] == 1, r.text
        got = _wait(lambda: [g for g in erp.got
                             if json.loads(g.body)["data"]["message"]["text"] == "Dov'è il mio ordine?"])  # fmt: skip
        assert got[0].headers["x-crocevia-event"] == "message.created"  # type: ignore[index]

        # The receiver has it; the worker records "sent" once the answer is back.
        bearer = page.evaluate("sessionStorage.getItem('crocevia:token')")
        api = httpx.Client(
            base_url=services.base_url, headers={"Authorization": f"Bearer {bearer}"}
        )
        hook_id = row.get_attribute("data-webhook")
        _wait(lambda: any(d["status"] == "sent" for d in api.get(
            f"/api/admin/webhooks/{hook_id}/deliveries").json()["deliveries"]))  # fmt: skip
        row.get_by_role("button", name="Registro").click()
        page.locator("#webhook-deliveries tbody tr", has_text="inviato").first.wait_for()
        page.screenshot(path=str(SHOTS / "settings-webhook-log-1280.png"), full_page=True)
        row.get_by_role("button", name="Sospendi").click()
        page.locator("#webhook-list tbody tr", has_text="sospeso").wait_for()

        # A label of the catalogue, made in the page, is offered and coloured in the console.
        page.click("#tab-labels")
        page.fill("#label-form input[name=name]", "Reso Gratuito")
        page.fill("#label-form input[name=colour]", "#c2410c")
        page.fill("#label-form input[name=description]", "Il cliente rende senza spese")
        page.click("#label-form button[type=submit]")
        page.locator("#label-list tbody tr[data-label=reso-gratuito]").wait_for()
        page.screenshot(path=str(SHOTS / "settings-labels-1280.png"), full_page=True)
        convs = api.get("/api/conversations", params={"status": "any"}).json()["conversations"]
        conv = next(c for c in convs if c["contact"] and c["contact"]["name"] == "Paolo")
        assert api.patch(f"/api/conversations/{conv['id']}",
                         json={"labels": ["reso-gratuito"]}).status_code == 200  # fmt: skip
        console = open_page(browser, f"{services.base_url}/console/", *admin, locale="it-IT")
        chip = console.locator("#list li", has_text="Paolo").locator(".chip.coloured",
                                                                   has_text="reso-gratuito")  # fmt: skip
        chip.wait_for()
        assert chip.evaluate("c => c.style.getPropertyValue('--chip')") == "#c2410c"
        assert chip.get_attribute("title") == "Il cliente rende senza spese"
        options = console.eval_on_selector_all("#known-labels option", "os => os.map(o => o.value)")
        assert "reso-gratuito" in options
        api.close()

        phone = open_page(browser, f"{services.base_url}/settings/", *admin, width=390,
                          height=844, locale="it-IT")  # fmt: skip
        phone.locator("#inbox-list").wait_for()
        phone.click("#tab-webhooks")
        phone.locator("#webhook-list tbody tr").first.wait_for()
        phone.screenshot(path=str(SHOTS / "settings-webhooks-390.png"), full_page=True)
        _no_sideways_scroll(phone)
    assert not errors, errors
