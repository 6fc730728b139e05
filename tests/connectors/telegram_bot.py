"""A Telegram inbox for the tests of tests/connectors/test_telegram_*.py, against a local
Bot API server that answers like Telegram's (tests/fakes/telegram_api.py).

The connector uses the real python-telegram-bot client, pointed at `FakeTelegram`
through the inbox's `api_base_url`; webhooks and replies go through the real gateway and
worker processes of the test session. The test modules import the fixtures from here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Services, make_world
from fakes.telegram_api import FakeTelegram
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.telegram import SECRET_HEADER, TelegramConnector
from inbox import preparation
from inbox.files import FileStore
from inbox.ingest import Ingested, ingest_many
from inbox.model import Inbox, Message
from inbox.types import Attachment, Channel, OutboundMessage
from inbox.writes import InGreenlet

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
PDF = b"%PDF-1.4\n" + b"x" * 100
OGG = b"OggS" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

_ids = iter(range(1, 10**6))


@dataclass
class Bot:
    """A Telegram inbox of a fresh team, its secrets in files, its API the fake, and a
    user of its own writing to it (Telegram user ids are global)."""

    fake: FakeTelegram
    inbox_id: int
    team_id: int
    agent: tuple[int, str, str]
    secret: str
    settings: dict[str, Any]
    chat: int = field(default_factory=lambda: 10**9 + secrets.randbelow(10**9))

    def update(self, text: str | None = "Ciao", *, update_id: int | None = None,
               message_id: int | None = None, edited: bool = False, chat: int | None = None,
               **content: Any) -> dict[str, Any]:  # fmt: skip
        """An update as Telegram sends it: a private message from this bot's user."""
        chat = chat or self.chat
        message: dict[str, Any] = {
            "message_id": message_id or next(_ids),
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "Giulia"},
            "from": {"id": chat, "is_bot": False, "first_name": "Giulia", "last_name": "Rossi",
                     "username": "giulia_r", "language_code": "it"},
            **content,
        }  # fmt: skip
        if text is not None:
            message["text"] = text
        if edited:
            message["edit_date"] = int(time.time())
        return {
            "update_id": update_id or next(_ids),
            ("edited_message" if edited else "message"): message,
        }


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram(f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}").start()
    yield server
    server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram, db: async_sessionmaker[AsyncSession], tmp_path: Path) -> Bot:
    world = await make_world(db)
    secret = secrets.token_urlsafe(24)
    (tmp_path / "token").write_text(fake.token + "\n")
    (tmp_path / "secret").write_text(secret)
    settings = {
        "bot_token_file": str(tmp_path / "token"),
        "webhook_secret_file": str(tmp_path / "secret"),
        "api_base_url": fake.url,
        "public_url": "https://crocevia.example.test",
        "poll_timeout": 1,
    }
    async with db() as session, session.begin():
        inbox = Inbox(name="bot", channel="telegram", team_id=world.team_id, settings=settings)
        session.add(inbox)
        await session.flush()
        inbox_id = inbox.id
    return Bot(fake, inbox_id, world.team_id, world.agents["anna"], secret, settings)


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "files")


async def connector(db: async_sessionmaker[AsyncSession], bot: Bot, **kw: Any) -> TelegramConnector:
    async with db() as session:
        inbox = await session.get_one(Inbox, bot.inbox_id)
    return TelegramConnector.for_inbox(inbox, **kw)


async def store(
    db: async_sessionmaker[AsyncSession],
    conn: TelegramConnector,
    files: FileStore,
    payload: dict[str, Any],
    secret_key: str = "test-secret",
) -> list[Ingested]:
    items = await preparation.prepare(
        conn, conn.parse(payload), sessions=db, files=files, secret_key=secret_key
    )
    results, _rows = await ingest_many(InGreenlet(db), items)
    assert all(isinstance(r, Ingested) for r in results), results
    return [r for r in results if isinstance(r, Ingested)]


async def messages_of(db: async_sessionmaker[AsyncSession], inbox_id: int) -> list[Message]:
    async with db() as session:
        rows = await session.execute(
            select(Message).where(Message.inbox_id == inbox_id).order_by(Message.id)
        )
        return list(rows.scalars())


def outbound(bot: Bot, text: str, *attachments: Attachment) -> OutboundMessage:
    return OutboundMessage(message_id=1, conversation_id=1, inbox_id=bot.inbox_id,
                           channel=Channel.TELEGRAM, recipient_external_id=str(bot.chat),
                           text=text, attachments=attachments)  # fmt: skip


async def post_update(services: Services, bot: Bot, payload: dict[str, Any],
                      secret: str | None) -> httpx.Response:  # fmt: skip
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        return await http.post(f"/webhooks/telegram/{bot.inbox_id}", json=payload, headers=headers)


@pytest.fixture
async def agent_http(bot: Bot, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    _id, email, password = bot.agent
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post("/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        yield http
