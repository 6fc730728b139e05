"""An email reply in the console: the agent reads the customer's words; the quoted
history is folded below them and opens on a click."""

from __future__ import annotations

import secrets
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import pytest
from conftest import Services, World
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from receivers.mail_intake import MailIntake
from inbox.files import FileStore
from inbox.model import Inbox
from inbox.relay import Relay

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def quoted_reply(
    db: async_sessionmaker[AsyncSession], world: World, data_dir: Path, redis_url: str
) -> str:
    """A customer's Gmail reply in Italian, stored in an email inbox of the agents' team."""
    async with db() as session, session.begin():
        inbox = Inbox(name=f"Posta {secrets.token_hex(3)}", channel="email", team_id=world.team_id,
                      settings={"address": "assistenza@shop.test"})  # fmt: skip
        session.add(inbox)
        await session.flush()
        inbox_id = inbox.id
    name = f"Marta Quote{secrets.token_hex(2)}"
    mail = EmailMessage()
    mail["From"] = f"{name} <marta.{secrets.token_hex(3)}@example.it>"
    mail["To"] = "assistenza@shop.test"
    mail["Subject"] = "Re: Ordine 4812"
    mail["Date"] = formatdate()
    mail.set_content(
        "Il pacco non è ancora arrivato.\n\n"
        "Il giorno lun 3 mar 2025 alle ore 10:12 Assistenza Shop <\n"
        "assistenza@shop.test> ha scritto:\n\n> Il suo ordine 4812 è partito ieri.\n"
    )
    redis = Redis.from_url(redis_url)
    intake = MailIntake(db, Relay(redis, db), FileStore(data_dir / "files"))
    assert await intake.take(inbox_id, mail.as_bytes()) is not None
    await redis.aclose()
    return name


def test_the_quoted_history_of_an_email_is_folded_under_the_customers_words(
    services: Services, world: World, quoted_reply: str, browser: object
) -> None:
    _id, email, password = world.agents["anna"]
    context = browser.new_context(viewport={"width": 1360, "height": 820})  # type: ignore[attr-defined]
    console = context.new_page()
    console.goto(f"{services.base_url}/console/")
    console.fill("input[name=email]", email)
    console.fill("input[name=password]", password)
    console.click("button[type=submit]")
    console.click(".tabs [data-view=all]")
    console.locator("#list li", has_text=quoted_reply).click()
    message = console.locator("#messages li.in", has_text="Il pacco non è ancora arrivato.")
    message.wait_for()
    assert message.locator(".text").inner_text() == "Il pacco non è ancora arrivato."
    quote = message.locator("details.quoted")
    assert not quote.locator(".quoted-text").is_visible()
    quote.locator("summary").click()
    assert "Il suo ordine 4812 è partito ieri." in quote.locator(".quoted-text").inner_text()
    context.close()
