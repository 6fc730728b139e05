"""The settings pages in a real headless Chromium: an admin sets up a shop from the browser
(a team, an agent, a Telegram and an email inbox), then a message flows through each
inbox to the new agent and the agent's reply goes back out on the same channel."""

from __future__ import annotations

import imaplib
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formatdate

import httpx
import pytest
from browser import SHOTS
from conftest import Services, make_staff
from fakes.telegram_api import FakeTelegram
from mailservers.accounts import IMAP_PASSWORD, MAILBOX
from mailservers.dovecot import Dovecot
from mailservers.smtp_peer import SmtpPeer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def admin(db: async_sessionmaker[AsyncSession]) -> tuple[str, str]:
    return await make_staff(db, "admin")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram(f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}").start()
    yield server
    server.stop()


def no_sideways_scroll(page: object) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")  # type: ignore[attr-defined]
    viewport = page.evaluate("window.innerWidth")  # type: ignore[attr-defined]
    assert width <= viewport, f"the page scrolls sideways: {width} > {viewport}"


def shoot(page: object, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"settings-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def wait_until(check: object, timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        found = check()  # type: ignore[operator]
        if found:
            return found
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_an_admin_sets_up_a_shop_from_the_browser_and_messages_flow(
    services: Services, admin: tuple[str, str], browser: object, fake: FakeTelegram,
    dovecot: Dovecot, smtp_peer: SmtpPeer,
) -> None:  # fmt: skip
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="it-IT").new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{services.base_url}/settings/")
    page.fill("input[name=email]", admin[0])
    page.fill("input[name=password]", admin[1])
    page.click("button[type=submit]")
    page.locator("#new-inbox").wait_for()
    assert page.locator("html").get_attribute("lang") == "it"

    # A team, then an agent in it.
    team = f"Turno serale {secrets.token_hex(2)}"
    page.click("#tab-teams")
    page.fill("#team-form input[name=name]", team)
    page.select_option("#team-form select[name=routing_policy]", "least_busy")
    page.click("#team-form button[type=submit]")
    page.locator("#team-list tbody tr", has_text=team).wait_for()
    shoot(page, "teams-1280")

    page.click("#tab-agents")
    agent_email = f"giulia-{secrets.token_hex(3)}@negozio.test"
    page.fill("#agent-form input[name=name]", "Giulia Bianchi")
    page.fill("#agent-form input[name=email]", agent_email)
    page.locator("#agent-teams label", has_text=team).locator("input").check()
    page.click("#agent-form button[type=submit]")
    page.locator("#agent-list tbody tr", has_text=agent_email).wait_for()
    password = re.search(r"\(mostrata solo ora\): (\S+)", page.locator("#notice").inner_text())
    assert password is not None
    shoot(page, "agents-1280")

    # A Telegram inbox for the team: the token typed in the page, the webhook set from it.
    page.click("#tab-inboxes")
    page.click("#new-inbox")
    page.fill("#inbox-form input[name=name]", "Bot del negozio")
    page.select_option("#inbox-form select[name=channel]", "telegram")
    page.select_option("#inbox-form select[name=team_id]", label=team)
    page.fill("#inbox-form input[name=bot_token]", fake.token)
    page.fill("#inbox-form input[name=api_base_url]", fake.url)
    page.fill("#inbox-form input[name='sla.urgent.first_response_minutes']", "15")
    page.fill("#inbox-form input[name='hours.mon.from']", "09:00")
    page.fill("#inbox-form input[name='hours.mon.to']", "18:00")
    shoot(page, "inbox-form-1280")
    page.click("#inbox-form button[type=submit]")
    row = page.locator("#inbox-list tbody tr", has_text="Bot del negozio")
    row.wait_for()
    assert fake.token not in page.content()
    row.get_by_role("button", name="Imposta webhook").click()
    page.locator("#notice", has_text="Webhook impostato").wait_for()
    (call,) = fake.calls_of("setWebhook")
    telegram_inbox = int(row.get_attribute("data-inbox") or 0)

    # An email inbox: IMAP and SMTP checked from the page.
    ca = services.data_dir / "secrets" / f"ca-{secrets.token_hex(3)}.pem"
    ca.parent.mkdir(exist_ok=True)
    ca.write_bytes(smtp_peer.cert.read_bytes())
    page.click("#new-inbox")
    page.fill("#inbox-form input[name=name]", "Posta assistenza")
    page.select_option("#inbox-form select[name=channel]", "email")
    page.select_option("#inbox-form select[name=team_id]", label=team)
    fields = {"address": MAILBOX, "imap_host": "127.0.0.1", "imap_port": str(dovecot.port),
              "imap_password": IMAP_PASSWORD, "smtp_host": "127.0.0.1",
              "smtp_port": str(smtp_peer.port), "smtp_username": smtp_peer.username,
              "smtp_password": smtp_peer.password, "smtp_ca_file": str(ca)}  # fmt: skip
    for name, value in fields.items():
        page.fill(f"#inbox-form input[name={name}]", value)
    page.select_option("#inbox-form select[name=imap_security]", "none")
    page.select_option("#inbox-form select[name=smtp_security]", "starttls")
    page.click("#inbox-form button[type=submit]")
    mail_row = page.locator("#inbox-list tbody tr", has_text="Posta assistenza")
    mail_row.wait_for()
    mail_row.get_by_role("button", name="Verifica IMAP e SMTP").click()
    page.locator("#notice", has_text="SMTP: OK").wait_for(timeout=30000)
    assert "IMAP: OK" in page.locator("#notice").inner_text()
    email_inbox = int(mail_row.get_attribute("data-inbox") or 0)
    shoot(page, "inboxes-1280")

    # A message through each inbox reaches the new agent; their replies go back out.
    chat = 880000000 + secrets.randbelow(10**6)
    update = {"update_id": 1, "message": {
        "message_id": 3, "date": int(time.time()), "text": "Buonasera, il pacco non è arrivato",
        "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "Marta"}}}  # fmt: skip
    with httpx.Client(base_url=services.base_url, timeout=30) as http:
        r = http.post(f"/webhooks/telegram/{telegram_inbox}", json=update,
                      headers={"X-Telegram-Bot-Api-Secret-Token": call.params["secret_token"]})  # fmt: skip
        assert r.status_code == 200, r.text
        customer = f"luca-{secrets.token_hex(3)}@cliente.test"
        _deliver_mail(dovecot, customer, services, email_inbox)

        token = http.post("/api/auth/login", json={"email": agent_email,
                                                   "password": password.group(1)}).json()["token"]  # fmt: skip
        auth = {"Authorization": f"Bearer {token}"}
        convs = http.get("/api/conversations", params={"view": "all"}, headers=auth).json()
        by_inbox = {c["inbox_id"]: c for c in convs["conversations"]}
        assert {telegram_inbox, email_inbox} <= set(by_inbox), convs
        for inbox_id, text in ((telegram_inbox, "Controllo subito!"),
                               (email_inbox, "Le rispondo entro oggi.")):  # fmt: skip
            r = http.post(f"/api/conversations/{by_inbox[inbox_id]['id']}/messages", headers=auth,
                          json={"text": text, "client_id": secrets.token_hex(6)})  # fmt: skip
            assert r.status_code == 201, r.text
    sent = wait_until(lambda: [c for c in fake.calls_of("sendMessage")
                               if c.params["text"] == "Controllo subito!"])  # fmt: skip
    assert sent[0].params["chat_id"] == str(chat)  # type: ignore[index]
    (mail,) = wait_until(lambda: list(smtp_peer.received))  # type: ignore[misc]
    assert mail.rcpt_tos == [customer] and "Le rispondo entro oggi." in mail.message.get_content()

    # Every tab at phone width: usable, nothing scrolls sideways.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="it-IT").new_page()  # type: ignore[attr-defined]
    phone.goto(f"{services.base_url}/settings/")
    phone.fill("input[name=email]", admin[0])
    phone.fill("input[name=password]", admin[1])
    phone.click("button[type=submit]")
    phone.locator("#inbox-list tbody tr", has_text="Posta assistenza").wait_for()
    no_sideways_scroll(phone)
    shoot(phone, "inboxes-390")
    phone.locator("#inbox-list tbody tr", has_text="Posta assistenza").get_by_role(
        "button", name="Modifica").click()  # fmt: skip
    assert phone.locator("#inbox-form input[name=address]").input_value() == MAILBOX
    assert "impostato (file)" in (phone.locator("#inbox-form input[name=smtp_password]")
                                  .get_attribute("placeholder") or "")  # fmt: skip
    no_sideways_scroll(phone)
    shoot(phone, "inbox-form-390")
    for tab, rows in (("teams", "#team-list tbody tr"), ("agents", "#agent-list tbody tr")):
        phone.click(f"#tab-{tab}")
        phone.locator(rows).first.wait_for()
        no_sideways_scroll(phone)
        shoot(phone, f"{tab}-390")
    assert not errors, errors


def _deliver_mail(dovecot: Dovecot, customer: str, services: Services, inbox_id: int) -> None:
    """The customer's mail lands in the mailbox; `crocevia email fetch --once` takes it."""
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = f"Luca <{customer}>", MAILBOX, "Ordine 1042"
    m["Date"], m["Message-ID"] = formatdate(), f"<{secrets.token_hex(8)}@cliente.test>"
    m.set_content("Buongiorno, vorrei cambiare l'indirizzo di consegna.")
    imap = imaplib.IMAP4("127.0.0.1", dovecot.port)
    imap.login(MAILBOX, IMAP_PASSWORD)
    imap.append("INBOX", "", imaplib.Time2Internaldate(time.time()), m.as_bytes())
    imap.logout()
    subprocess.run([sys.executable, "-m", "gateway.cli", "email", "fetch", str(inbox_id), "--once"],
                   env=services.env(), check=True, timeout=60, capture_output=True)  # fmt: skip


def test_canned_responses_and_closures_are_set_from_the_page(
    services: Services, admin: tuple[str, str], browser: object
) -> None:
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="it-IT").new_page()  # type: ignore[attr-defined]
    page.goto(f"{services.base_url}/settings/")
    page.fill("input[name=email]", admin[0])
    page.fill("input[name=password]", admin[1])
    page.click("button[type=submit]")
    page.click("#tab-canned")
    code = f"reso{secrets.token_hex(2)}"
    page.fill("#canned-form input[name=short_code]", code)
    page.fill(
        "#canned-form textarea[name=text]", "Buongiorno {{contact.name}}, il reso è gratuito."
    )
    page.click("#canned-form button[type=submit]")
    row = page.locator("#canned-list tbody tr", has_text=f"/{code}")
    row.wait_for()
    shoot(page, "canned-1280")

    page.click("#tab-inboxes")
    page.click("#new-inbox")
    page.fill("#inbox-form input[name=name]", "Negozio di Natale")
    page.fill("#inbox-form textarea[name='hours.closures']", "2026-12-24 2026-12-26\n2027-01-01")
    page.click("#inbox-form button[type=submit]")
    page.locator("#inbox-list tbody tr", has_text="Negozio di Natale").wait_for()
    token = page.evaluate("sessionStorage.getItem('crocevia:token')")
    with httpx.Client(base_url=services.base_url,
                      headers={"Authorization": f"Bearer {token}"}) as http:  # fmt: skip
        made = [
            i for i in http.get("/api/admin/inboxes").json() if i["name"] == "Negozio di Natale"
        ]
        assert made[-1]["settings"]["business_hours"]["closures"] == [
            {"from": "2026-12-24", "to": "2026-12-26"},
            {"from": "2027-01-01", "to": "2027-01-01"},
        ]
        canned = http.get("/api/canned_responses").json()
        assert any(c["short_code"] == code for c in canned)
    page.click("#tab-canned")
    page.locator("#canned-list tbody tr", has_text=f"/{code}").get_by_role("button").click()
    page.locator("#canned-list tbody tr", has_text=f"/{code}").wait_for(state="detached")
