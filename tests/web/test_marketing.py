"""The marketing page in a real headless Chromium: sentiment and volume by channel per week,
segment sizes, the lifecycle funnel; saving a segment from the page; no message text."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from browser import SHOTS
from conftest import Services, World
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent, Contact, Conversation, LifecycleChange, Message, Segment, utcnow

pytestmark = pytest.mark.timeout(120)
SECRET_TEXT = "password del conto: girasole42"
# (channel, weekly inbound sentiment over the last six weeks, oldest first)
CHANNELS = (
    ("website", (0.45, 0.5, 0.35, 0.55, 0.6, 0.5)),
    ("telegram", (0.1, -0.1, -0.3, -0.45, -0.2, 0.05)),
    ("email", (0.2, 0.15, None, 0.25, 0.1, 0.3)),
)


@pytest.fixture
async def campaign(db: async_sessionmaker[AsyncSession], world: World) -> dict[str, str]:
    """Six weeks of conversations on three channels, a funnel, two segments, a marketer."""
    tag = secrets.token_hex(3)
    now = utcnow()
    password = secrets.token_urlsafe(10)
    async with db() as session, session.begin():
        marketer = Agent(email=f"marta-{tag}@example.test", name="Marta", role="marketing",
                         password_hash=hash_password(password), language="it")  # fmt: skip
        session.add(marketer)
        contacts = []
        for i in range(24):
            c = Contact(name=f"Cliente {i}", attributes={"cohort": tag},
                        lifecycle_stage=("lead", "prospect", "customer")[i % 3])  # fmt: skip
            session.add(c)
            contacts.append(c)
        await session.flush()
        for ci, (channel, weekly) in enumerate(CHANNELS):
            for week, score in enumerate(weekly):
                when = now - timedelta(weeks=5 - week, hours=2)
                for k in range(1 + (week + ci) % 3):
                    contact = contacts[(ci * 6 + week + k) % len(contacts)]
                    conv = Conversation(inbox_id=world.inbox_id, contact_id=contact.id,
                                        channel=channel, status="resolved", threaded=True,
                                        created_at=when, labels=[f"camp-{tag}"])  # fmt: skip
                    session.add(conv)
                    await session.flush()
                    session.add(Message(conversation_id=conv.id, inbox_id=world.inbox_id,
                                        direction="in", text=SECRET_TEXT, attachments=[],
                                        status="received", author_contact_id=contact.id,
                                        sentiment_score=None if score is None else score + k * 0.02,
                                        sentiment_label="neutral", created_at=when))  # fmt: skip
                    session.add(Message(conversation_id=conv.id, inbox_id=world.inbox_id,
                                        direction="out", text="Grazie!", attachments=[],
                                        status="sent", created_at=when + timedelta(minutes=4)))  # fmt: skip
        for n, stage in ((20, "lead"), (11, "prospect"), (6, "customer"), (2, "churned")):
            for i in range(n):
                session.add(LifecycleChange(contact_id=contacts[i % len(contacts)].id,
                                            from_stage=None, to_stage=stage, source="rule",
                                            at=now - timedelta(days=3 + i)))  # fmt: skip
        session.add(Segment(name=f"Telegram {tag}", rules={"all": [
            {"signal": "attribute", "key": "cohort", "op": "=", "value": tag},
            {"signal": "channels", "op": "contains", "value": "telegram"}]}))  # fmt: skip
        session.add(Segment(name=f"Clienti {tag}", rules={"all": [
            {"signal": "attribute", "key": "cohort", "op": "=", "value": tag},
            {"signal": "lifecycle_stage", "op": "=", "value": "customer"}]}))  # fmt: skip
    return {"email": marketer.email, "password": password, "tag": tag}


def test_the_marketer_sees_charts_segments_and_the_funnel(
    services: Services, campaign: dict[str, str], browser: object
) -> None:
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{services.base_url}/marketing/")
    page.fill("input[name=email]", campaign["email"])
    page.fill("input[name=password]", campaign["password"])
    page.click("button[type=submit]")
    tag = campaign["tag"]
    page.locator("#segments li.seg-row", has_text=f"Telegram {tag}").wait_for()

    # Sentiment: one line per channel; volume: stacked bars per week and channel.
    for channel, _weekly in CHANNELS:
        assert page.locator(f"#sentiment path.line[data-channel='{channel}']").count() == 1
        assert page.locator(f"#volume rect.bar[data-channel='{channel}']").count() >= 5
    assert page.locator("#sentiment text.tick").count() >= 8  # y ticks and week labels
    assert "telegram" in page.locator("#legend-volume").inner_text()
    # Segment sizes: 8 customers in the cohort (every third of 24); Telegram writers.
    customers = page.locator("#segments li.seg-row", has_text=f"Clienti {tag}")
    assert customers.locator(".n").inner_text() == "8"
    telegram = int(
        page.locator("#segments li.seg-row", has_text=f"Telegram {tag}").locator(".n").inner_text()
    )
    assert 1 <= telegram <= 24
    # The funnel: at least our 20 leads, 11 prospects, 6 customers in the last 12 weeks.
    stages = page.locator("#funnel .stage")
    assert [stages.nth(i).get_attribute("data-stage") for i in range(4)] == [
        "lead",
        "prospect",
        "customer",
        "churned",
    ]
    assert int(stages.nth(0).locator(".rate").inner_text().split()[0].replace(".", "")) >= 20
    assert page.locator("html").get_attribute("lang") == "it"
    assert page.locator("h2", has_text="Sentiment per canale").count() == 1
    assert int(page.locator("#k-in").inner_text().replace(".", "")) >= 18

    # A segment of two conditions saved from the page, values typed as an Italian reads
    # them ("-0,2", "Cliente"), appears with its size and its members; then it is edited.
    page.fill("#segment-form input[name=name]", f"Scontenti {tag}")
    first = page.locator("#conditions .cond").nth(0)
    first.locator("select[name=signal]").select_option("sentiment_avg_90d")
    first.locator("select[name=op]").select_option("<")
    first.locator("input[name=value]").fill("-0,2")
    page.click("#add-condition")
    second = page.locator("#conditions .cond").nth(1)
    second.locator("select[name=signal]").select_option("lifecycle_stage")
    second.locator("select[name=op]").select_option("=")
    second.locator("select[name=value]").select_option(label="Cliente")
    page.click("#segment-form button[type=submit]")
    page.locator("#segments li.seg-row", has_text=f"Scontenti {tag}").wait_for()
    assert page.locator("#export-segment option", has_text=f"Scontenti {tag}").count() == 1
    page.locator("#segment-title", has_text=f"Scontenti {tag}").wait_for()
    page.click("#segment-edit")
    assert (
        page.locator("#conditions .cond").nth(0).locator("input[name=value]").input_value()
        == "-0,2"
    )
    page.select_option("#segment-form select[name=match]", "any")
    page.fill("#segment-form input[name=name]", f"Scontenti o clienti {tag}")
    page.click("#segment-form button[type=submit]")
    page.locator("#segments li.seg-row", has_text=f"Scontenti o clienti {tag}").wait_for()
    # The detail shows the saved segment (title and members come in one update; until
    # then the list is still the first segment's).
    page.locator("#segment-title", has_text=f"Scontenti o clienti {tag}").wait_for()
    page.locator("#segment-members li").first.wait_for()
    assert page.locator("#segment-members li.muted").count() == 0  # 8 customers at least

    page.locator("#app").evaluate("n => n.scrollIntoView()")
    assert SECRET_TEXT not in page.content()
    page.screenshot(path=str(SHOTS / "marketing.png"), full_page=True)
    page.click("#segment-delete")
    page.locator("#segments li.seg-row", has_text=f"Scontenti o clienti {tag}").wait_for(
        state="detached"
    )
    assert errors == []
