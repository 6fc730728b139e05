"""The team lead's live view in a real headless Chromium: queues with their longest wait,
agents' load, SLA breaches highlighted, the heatmap and the report, updated live."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import pytest
from browser import SHOTS
from conftest import Services, World
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent, Contact, Conversation, Message, SlaBreach, utcnow

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def floor(db: async_sessionmaker[AsyncSession], world: World) -> dict[str, object]:
    """Two customers waiting in the world's team (one for 20 minutes, past its SLA), a lead."""
    password = secrets.token_urlsafe(10)
    now = utcnow()
    async with db() as session, session.begin():
        lead = Agent(email=f"lea-{secrets.token_hex(3)}@example.test", name="Lea", role="lead",
                     password_hash=hash_password(password), language="en")  # fmt: skip
        session.add(lead)
        convs = []
        for minutes in (20, 3):
            contact = Contact(name=f"Cliente {minutes}", attributes={})
            session.add(contact)
            await session.flush()
            started = now - timedelta(minutes=minutes)
            conv = Conversation(inbox_id=world.inbox_id, contact_id=contact.id, channel="website",
                                status="open", team_id=world.team_id, waiting_since=started,
                                created_at=started, last_message_at=started, priority="high")  # fmt: skip
            session.add(conv)
            await session.flush()
            session.add(Message(conversation_id=conv.id, inbox_id=world.inbox_id, direction="in",
                                text="Dov'è il mio ordine?", attachments=[], status="received",
                                author_contact_id=contact.id, created_at=started))  # fmt: skip
            convs.append(conv.id)
        session.add(SlaBreach(conversation_id=convs[0], kind="first_response",
                              due_at=now - timedelta(minutes=5), breached_at=now))  # fmt: skip
    return {"email": lead.email, "password": password, "late": convs[0], "recent": convs[1]}


def test_the_lead_sees_queues_breaches_and_charts_live(
    services: Services, world: World, floor: dict[str, object], browser: object
) -> None:
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{services.base_url}/lead/")
    page.fill("input[name=email]", str(floor["email"]))
    page.fill("input[name=password]", str(floor["password"]))
    page.click("button[type=submit]")
    page.locator("#queues tbody tr", has_text="team-").first.wait_for()
    texts = page.locator("#queues tbody").inner_text()
    assert "20m" in texts or "21m" in texts  # the longest wait of our team's queue
    assert page.locator("#queues td.wait.long").count() >= 1
    page.locator(
        f"#breaches li[data-conversation='{floor['late']}']", has_text="first response"
    ).wait_for()
    assert page.locator("#heatmap .cell[data-count]:not([data-count='0'])").count() >= 1
    assert page.locator("#report tbody tr").count() >= 1
    assert page.locator("html").get_attribute("lang") == "en"  # the lead's own setting

    # An agent takes the late conversation: the view follows without a reload.
    waiting_before = int(page.locator("#k-waiting").inner_text())
    _id, email, password = world.agents["anna"]
    with httpx.Client(base_url=services.base_url) as http:
        token = http.post("/api/auth/login", json={"email": email, "password": password}).json()[
            "token"
        ]
        r = http.patch(f"/api/conversations/{floor['late']}", headers={"Authorization": f"Bearer {token}"},
                       json={"assignee_id": world.agents["anna"][0]})  # fmt: skip
        assert r.status_code == 200
    # A function, not an expression: the page's CSP forbids eval, which an expression needs.
    page.wait_for_function(
        f"() => +document.getElementById('k-waiting').textContent < {waiting_before}"
    )
    anna = page.locator(f"#agents tbody tr[data-id='{world.agents['anna'][0]}']")
    anna.locator("td", has_text="1/").wait_for()
    page.screenshot(path=str(SHOTS / "lead-view.png"), full_page=True)
    # Channels read as words (not "website"), and a breach opens its conversation.
    page.locator("#report tbody td", has_text="Website").first.wait_for()
    assert "website" not in page.locator("#report tbody td").all_inner_texts()
    page.locator(f"#breaches li[data-conversation='{floor['late']}'] a").click()
    page.locator("#chat-title", has_text="Cliente 20").wait_for()
    page.locator("#messages li", has_text="Dov'è il mio ordine?").wait_for()
    assert errors == []
