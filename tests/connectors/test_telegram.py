"""The Telegram channel against a local Bot API server that answers like Telegram's.

The connector uses the real python-telegram-bot client, pointed at `FakeTelegram`
through the inbox's `api_base_url`; webhooks and replies go through the real
gateway and worker processes of the test session.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Services, make_world
from crocevia_clients import Clients
from fakes.telegram_api import FakeTelegram
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.base import VerificationError
from connectors.telegram import (
    SECRET_HEADER,
    TelegramConnector,
    open_bot,
    read_start_token,
    start_token,
)
from inbox import preparation
from inbox.events import OUTBOUND_GROUP, OUTBOUND_STREAM
from inbox.files import FileStore, stored_contents
from inbox.ingest import Ingested, ingest_many
from inbox.model import ChannelCursor, Contact, Conversation, Identity, Inbox, Message
from inbox.types import Attachment, Channel, DeliveryError, OutboundMessage
from inbox.writes import InGreenlet
from receivers.telegram_polling import CURSOR_KIND, TelegramPoller

pytestmark = pytest.mark.timeout(90)

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
PDF = b"%PDF-1.4\n" + b"x" * 100
OGG = b"OggS" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CHAT = 555000111


@dataclass
class Bot:
    """A Telegram inbox of a fresh team, its secrets in files, its API the fake."""

    fake: FakeTelegram
    inbox_id: int
    team_id: int
    agent: tuple[int, str, str]
    secret: str
    settings: dict[str, Any]


@pytest.fixture(autouse=True)
def fresh_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram user ids are global: each test talks from users of its own."""
    monkeypatch.setattr(sys.modules[__name__], "CHAT", 10**9 + secrets.randbelow(10**9))


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


_ids = iter(range(1, 10**6))


def update(text: str | None = "Ciao", *, update_id: int | None = None, message_id: int | None = None,
           edited: bool = False, chat: int | None = None, **content: Any) -> dict[str, Any]:  # fmt: skip
    chat = chat or CHAT
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


# -- inbound: parsing, files, edits, duplicates, /start --------------------------------


async def test_text_photo_document_voice_location_contact(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    fake = bot.fake
    fake.add_file("ph-big", JPEG, "photos/file_1.jpg")
    fake.add_file("doc-1", PDF, "documents/file_2.pdf")
    fake.add_file("voice-1", OGG, "voice/file_3.oga")
    conn = await connector(db, bot)
    small = {"file_id": "ph-small", "file_unique_id": "s", "width": 90, "height": 67}
    big = {"file_id": "ph-big", "file_unique_id": "b", "width": 1280, "height": 960}
    payloads = [
        update("Buongiorno, vorrei un'informazione"),
        update(None, caption="lo scontrino", photo=[small, big]),
        update(
            None,
            document={
                "file_id": "doc-1",
                "file_unique_id": "d",
                "file_name": "fattura.pdf",
                "mime_type": "application/pdf",
            },
        ),  # fmt: skip
        update(
            None,
            voice={
                "file_id": "voice-1",
                "file_unique_id": "v",
                "duration": 3,
                "mime_type": "audio/ogg",
            },
        ),  # fmt: skip
        update(None, location={"latitude": 45.4642, "longitude": 9.19}),
        update(
            None,
            contact={
                "phone_number": "+39021234567",
                "first_name": "Marco",
                "last_name": "Bianchi",
                "user_id": 77,
            },
        ),  # fmt: skip
    ]
    for payload in payloads:
        await store(db, conn, files, payload)

    rows = await messages_of(db, bot.inbox_id)
    assert len(rows) == 6 and len({r.conversation_id for r in rows}) == 1
    text, photo, doc, voice, location, contact = rows
    assert text.text == "Buongiorno, vorrei un'informazione"
    assert text.external_id == f"{CHAT}:{payloads[0]['message']['message_id']}"
    assert photo.text == "lo scontrino"
    (a,) = photo.attachments
    assert a["kind"] == "image" and a["content_type"] == "image/jpeg" and a["size"] == len(JPEG)
    assert a["url"].startswith("/api/files/") and a["data"]["file_id"] == "ph-big"
    (d,) = doc.attachments
    assert (d["kind"], d["name"], d["content_type"]) == ("file", "fattura.pdf", "application/pdf")
    (v,) = voice.attachments
    assert (v["kind"], v["content_type"]) == ("audio", "audio/ogg")
    # The stored bytes are the ones Telegram served, found where /api/files/{id} looks.
    for att, data in ((a, JPEG), (d, PDF), (v, OGG)):
        async with db() as session:
            from inbox.model import StoredFile

            row = await session.get_one(StoredFile, att["url"].rsplit("/", 1)[1])
        assert files.path(row.sha256).read_bytes() == data and row.inbox_id == bot.inbox_id
    getfile = [c.params["file_id"] for c in fake.calls_of("getFile")]
    assert getfile == ["ph-big", "doc-1", "voice-1"]  # the largest photo size only
    (loc,) = location.attachments
    assert loc["kind"] == "location" and loc["data"] == {"latitude": 45.4642, "longitude": 9.19}
    (card,) = contact.attachments
    assert card["kind"] == "contact" and card["name"] == "Marco Bianchi"
    assert card["data"]["phone_number"] == "+39021234567" and card["data"]["user_id"] == 77

    async with db() as session:
        identity = (
            await session.execute(
                select(Identity).where(Identity.channel == "telegram",
                                       Identity.external_id == str(CHAT))
            )
        ).scalar_one()  # fmt: skip
        contact_row = await session.get_one(Contact, identity.contact_id)
    assert (identity.handle, identity.display_name) == ("giulia_r", "Giulia Rossi")
    assert contact_row.name == "Giulia Rossi"


async def test_group_chats_and_other_updates_store_nothing(
    bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    conn = await connector(db, bot)
    group = update("hello all")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Fans"}
    assert conn.parse(group) == []
    assert conn.parse({"update_id": 9, "my_chat_member": None}) == []


async def test_an_edited_message_updates_the_stored_text(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    conn = await connector(db, bot)
    original = update("Il pacco è arrivato rotto", message_id=4001)
    (first,) = await store(db, conn, files, original)
    (again,) = await store(db, conn, files, update("Il pacco è arrivato aperto", message_id=4001,
                                                   edited=True))  # fmt: skip
    assert first.created and not again.created
    assert again.message.id == first.message.id
    (row,) = await messages_of(db, bot.inbox_id)
    assert row.text == "Il pacco è arrivato aperto" and row.edited_at is not None
    assert row.external_id == f"{CHAT}:4001"


async def test_a_repeated_update_stores_nothing_new(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    bot.fake.add_file("ph-1", JPEG, "photos/p.jpg")
    conn = await connector(db, bot)
    payload = update(None, photo=[{"file_id": "ph-1", "file_unique_id": "p", "width": 9,
                                   "height": 9}])  # fmt: skip
    (first,) = await store(db, conn, files, payload)
    (second,) = await store(db, conn, files, payload)
    # The same message in another update (Telegram redelivering) is the same message too.
    (third,) = await store(db, conn, files, {**payload, "update_id": payload["update_id"] + 10**6})
    assert first.created and not second.created and not third.created
    assert len(await messages_of(db, bot.inbox_id)) == 1
    assert len(bot.fake.calls_of("getFile")) == 1  # a known message's files are not fetched again


async def test_start_payload_links_the_sender_to_a_known_contact(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    key = "app-secret-key"
    async with db() as session, session.begin():
        known = Contact(name="Giulia (from the shop)", email="giulia@example.it", attributes={})
        session.add(known)
        await session.flush()
        known_id = known.id
    conn = await connector(db, bot)
    token = start_token(key, bot.inbox_id, known_id)
    assert len(token) <= 64 and read_start_token(key, bot.inbox_id, token) == known_id
    # Forged, altered, other-inbox and other-key tokens link nothing.
    assert read_start_token(key, bot.inbox_id + 1, token) is None
    assert read_start_token("another key", bot.inbox_id, token) is None
    other = token.replace(f"{known_id}-", f"{known_id + 1}-", 1)
    assert read_start_token(key, bot.inbox_id, other) is None
    from datetime import timedelta

    expired = start_token(key, bot.inbox_id, known_id, ttl=timedelta(seconds=-1))
    assert read_start_token(key, bot.inbox_id, expired) is None

    (forged,) = await store(db, conn, files, update(f"/start {other}", chat=CHAT + 1), key)
    assert forged.contact.id != known_id

    (linked,) = await store(db, conn, files, update(f"/start {token}"), key)
    assert linked.contact.id == known_id and linked.message.text == "/start"
    (later,) = await store(db, conn, files, update("Grazie!"), key)
    assert later.contact.id == known_id
    assert later.conversation.id == linked.conversation.id
    # A user already known under another contact is moved by a valid link.
    again = start_token(key, bot.inbox_id, known_id)
    (moved,) = await store(db, conn, files, update(f"/start {again}", chat=CHAT + 1), key)
    assert moved.contact.id == known_id


def test_verify_compares_the_secret_token() -> None:
    from connectors.telegram import TelegramConfig

    conn = TelegramConnector(1, TelegramConfig(token="t", webhook_secret="s3cr3t"))
    conn.verify({SECRET_HEADER: "s3cr3t"}, b"{}")
    for headers in ({SECRET_HEADER: "s3cr3"}, {SECRET_HEADER: ""}, {}):
        with pytest.raises(VerificationError):
            conn.verify(headers, b"{}")
    with pytest.raises(VerificationError):  # no secret configured: refuse everything
        TelegramConnector(1, TelegramConfig(token="t", webhook_secret=None)).verify(
            {SECRET_HEADER: ""}, b"{}"
        )


async def test_secrets_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, fake: FakeTelegram
) -> None:
    from connectors.telegram import TelegramConfig

    monkeypatch.setenv("TG_TOKEN_FOR_TEST", fake.token)
    config = TelegramConfig.from_settings({"bot_token_env": "TG_TOKEN_FOR_TEST",
                                           "api_base_url": fake.url})  # fmt: skip
    assert config.token == fake.token and config.webhook_secret is None
    async with open_bot(config) as tg, tg:  # `async with bot` makes getMe
        assert tg.username == "crocevia_test_bot"


# -- polling ---------------------------------------------------------------------------


async def test_polling_resumes_from_the_stored_offset(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    fake = bot.fake
    first = [update(f"messaggio {n}", update_id=100 + n) for n in range(3)]
    for u in first:
        fake.push_update(u)

    async def poll_once() -> int:  # a fresh poller and client each time: a restart
        conn = await connector(db, bot)
        poller = TelegramPoller(conn, db, files, "k", timeout=0)
        async with open_bot(conn.config) as tg:
            return await poller.poll_once(tg)

    assert await poll_once() == 3
    assert [m.text for m in await messages_of(db, bot.inbox_id)] == [
        "messaggio 0", "messaggio 1", "messaggio 2"]  # fmt: skip
    fake.push_update(update("messaggio 3", update_id=103))
    assert await poll_once() == 1
    offsets = [c.params.get("offset") for c in fake.calls_of("getUpdates")]
    assert offsets == [None, "103"]
    assert await poll_once() == 0 and fake.calls_of("getUpdates")[-1].params["offset"] == "104"

    # A crash after storing but before saving the offset: Telegram hands the same updates
    # again, and nothing is stored twice.
    async with db() as session, session.begin():
        cursor = await session.get_one(ChannelCursor, (bot.inbox_id, CURSOR_KIND))
        cursor.state = {"offset": 102}
    fake.push_update(first[2])
    fake.push_update(update("messaggio 4", update_id=104))
    assert await poll_once() == 2
    assert [m.text for m in await messages_of(db, bot.inbox_id)] == [
        "messaggio 0", "messaggio 1", "messaggio 2", "messaggio 3", "messaggio 4"]  # fmt: skip
    async with db() as session:
        cursor = await session.get_one(ChannelCursor, (bot.inbox_id, CURSOR_KIND))
    assert cursor.state == {"offset": 105}


async def test_poll_process_restart_neither_misses_nor_repeats(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    fake = bot.fake
    fake.webhook = {"url": "https://old.example/hook"}  # `poll` removes a leftover webhook

    def start() -> subprocess.Popen[bytes]:
        log = open(services.data_dir / f"poll-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        with log:
            return subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "telegram", "poll", str(bot.inbox_id)],
                env=services.env(), stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def wait_count(n: int) -> None:
        deadline = time.monotonic() + 30
        while len(await messages_of(db, bot.inbox_id)) < n:
            assert time.monotonic() < deadline, "the poller did not store the messages"
            await asyncio.sleep(0.1)

    async def wait_offset(offset: int) -> None:
        deadline = time.monotonic() + 30
        while True:
            async with db() as session:
                cursor = await session.get(ChannelCursor, (bot.inbox_id, CURSOR_KIND))
            if cursor is not None and int(cursor.state.get("offset", 0)) >= offset:
                return
            assert time.monotonic() < deadline, "the poller did not store its offset"
            await asyncio.sleep(0.1)

    proc = start()
    try:
        fake.push_update(update("uno", update_id=500))
        fake.push_update(update("due", update_id=501))
        await wait_count(2)
        await wait_offset(502)  # stored after the messages, in its own transaction
    finally:
        services.stop(proc)
    assert fake.webhook == {}
    before = len(fake.calls_of("getUpdates"))
    fake.push_update(update("tre", update_id=502))
    proc = start()
    try:
        await wait_count(3)
    finally:
        services.stop(proc)
    assert [m.text for m in await messages_of(db, bot.inbox_id)] == ["uno", "due", "tre"]
    # The restarted poller asked from the stored offset, not from the beginning.
    assert fake.calls_of("getUpdates")[before].params.get("offset") == "502"


# -- outbound --------------------------------------------------------------------------


def outbound(bot: Bot, text: str, *attachments: Attachment) -> OutboundMessage:
    return OutboundMessage(message_id=1, conversation_id=1, inbox_id=bot.inbox_id,
                           channel=Channel.TELEGRAM, recipient_external_id=str(CHAT), text=text,
                           attachments=attachments)  # fmt: skip


async def test_text_goes_as_plain_text_in_parts_of_4096(
    bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    conn = await connector(db, bot)
    text = "*non grassetto* _né corsivo_ [link](http://x) <b>tag</b> `code` 1.5 - ok!"
    receipt = await conn.send(outbound(bot, text))
    (call,) = bot.fake.calls_of("sendMessage")
    assert call.params["text"] == text and "parse_mode" not in call.params
    assert call.params["chat_id"] == str(CHAT)
    assert receipt.external_id.startswith(f"{CHAT}:")

    long = ("parola " * 1000).strip()  # 6999 characters
    await conn.send(outbound(bot, long))
    parts = [c.params["text"] for c in bot.fake.calls_of("sendMessage")[1:]]
    assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == long


async def test_attachments_go_with_send_photo_and_send_document(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    async with db() as session, session.begin():
        png = await files.save(session, PNG, "grafico.png", inbox_id=None)
        pdf = await files.save(session, PDF, "preventivo.pdf", inbox_id=None)
    conn = await connector(db, bot)
    att = [Attachment(kind="image", url=f"/api/files/{png.id}", name=png.name,
                      content_type=png.content_type, size=png.size),
           Attachment(kind="file", url=f"/api/files/{pdf.id}", name=pdf.name,
                      content_type=pdf.content_type, size=pdf.size)]  # fmt: skip
    async with db() as session:  # what the worker does: the inbox reads the bytes
        att = list(await stored_contents(session, files, tuple(att)))
    await conn.send(outbound(bot, "Ecco i file", *att))
    (photo,) = bot.fake.calls_of("sendPhoto")
    (doc,) = bot.fake.calls_of("sendDocument")
    assert photo.files["photo"] == ("grafico.png", PNG)
    assert doc.files["document"] == ("preventivo.pdf", PDF)
    assert [c.method for c in bot.fake.calls if c.method.startswith("send")] == [
        "sendMessage", "sendPhoto", "sendDocument"]  # fmt: skip


async def test_429_and_blocked_bot_become_delivery_errors(
    bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    conn = await connector(db, bot)
    bot.fake.rate_limit_next("sendMessage", retry_after=3)
    with pytest.raises(DeliveryError) as got:
        await conn.send(outbound(bot, "ciao"))
    assert got.value.retryable and got.value.retry_after == 3.0

    # A 429 on the second part of a reply is waited out: the first part is not sent twice.
    long = "a" * 4096 + "b" * 10
    bot.fake.rate_limit_next("sendPhoto", retry_after=1)
    started = time.monotonic()
    await conn.send(outbound(bot, long))
    sent = [c.params["text"] for c in bot.fake.calls_of("sendMessage") if c.status == 200]
    assert sent == ["a" * 4096, "b" * 10]
    assert time.monotonic() - started < 5

    bot.fake.block(CHAT)
    with pytest.raises(DeliveryError) as blocked:
        await conn.send(outbound(bot, "ciao"))
    assert not blocked.value.retryable and "blocked by the user" in blocked.value.reason


# -- through the gateway and the worker ------------------------------------------------


async def post_update(services: Services, bot: Bot, payload: dict[str, Any],
                      secret: str | None) -> httpx.Response:  # fmt: skip
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        return await http.post(f"/webhooks/telegram/{bot.inbox_id}", json=payload, headers=headers)


async def test_webhook_refuses_a_wrong_secret_and_stores_with_the_right_one(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    bot.fake.add_file("ph-w", JPEG, "photos/w.jpg")
    payload = update(None, caption="foto",
                     photo=[{"file_id": "ph-w", "file_unique_id": "w", "width": 5, "height": 5}])  # fmt: skip
    for wrong in (None, "", bot.secret + "x", bot.secret.upper()):
        r = await post_update(services, bot, payload, wrong)
        assert r.status_code == 401, r.text
    assert await messages_of(db, bot.inbox_id) == []

    r = await post_update(services, bot, payload, bot.secret)
    assert r.status_code == 200 and r.json() == {"received": 1, "stored": 1}
    r = await post_update(services, bot, payload, bot.secret)  # Telegram delivers again
    assert r.status_code == 200 and r.json() == {"received": 1, "stored": 0}
    (row,) = await messages_of(db, bot.inbox_id)
    assert row.text == "foto"
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        got = await http.get(row.attachments[0]["url"])
    assert got.status_code == 200 and got.content == JPEG

    # A webhook for a website inbox is not a Telegram webhook.
    async with db() as session:
        website = (
            await session.execute(select(Inbox.id).where(Inbox.channel == "website").limit(1))
        ).scalar_one()
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post(f"/webhooks/telegram/{website}", json=payload,
                            headers={SECRET_HEADER: bot.secret})  # fmt: skip
    assert r.status_code == 404


async def test_set_webhook_command(bot: Bot, services: Services) -> None:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway.cli", "telegram", "set-webhook", str(bot.inbox_id)],
        env=services.env(), capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    url = f"https://crocevia.example.test/webhooks/telegram/{bot.inbox_id}"
    assert bot.fake.webhook["url"] == url and bot.fake.webhook["secret_token"] == bot.secret
    assert url in done.stdout.decode()


@pytest.fixture
async def agent_http(bot: Bot, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    _id, email, password = bot.agent
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post("/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        yield http


async def conversation_of(db: async_sessionmaker[AsyncSession], bot: Bot) -> int:
    async with db() as session:
        return (
            await session.execute(
                select(Conversation.id).where(Conversation.inbox_id == bot.inbox_id)
            )
        ).scalar_one()


async def reply(http: httpx.AsyncClient, conv_id: int, text: str) -> int:
    r = await http.post(f"/api/conversations/{conv_id}/messages",
                        json={"text": text, "client_id": secrets.token_hex(8)})  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def wait_status(
    db: async_sessionmaker[AsyncSession], message_id: int, status: str
) -> Message:
    deadline = time.monotonic() + 30
    while True:
        async with db() as session:
            msg = await session.get_one(Message, message_id)
        if msg.status == status:
            return msg
        assert time.monotonic() < deadline, f"message {message_id} is {msg.status}, not {status}"
        await asyncio.sleep(0.1)


async def test_agent_reply_reaches_telegram_after_a_429(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession],
    agent_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    r = await post_update(services, bot, update("Ho bisogno di aiuto"), bot.secret)
    assert r.status_code == 200
    conv_id = await conversation_of(db, bot)

    first = await reply(agent_http, conv_id, "Certo! *Come* posso aiutarla?")
    (call,) = await bot.fake.wait_for_call("sendMessage")
    assert call.params["text"] == "Certo! *Come* posso aiutarla?"
    assert call.params["chat_id"] == str(CHAT) and "parse_mode" not in call.params
    sent = await wait_status(db, first, "sent")
    assert sent.external_id is not None and sent.external_id.startswith(f"{CHAT}:")

    bot.fake.rate_limit_next("sendMessage", retry_after=1)
    second = await reply(agent_http, conv_id, "Un momento, verifico.")
    await wait_status(db, second, "sent")
    tries = [
        c for c in bot.fake.calls_of("sendMessage") if c.params["text"] == "Un momento, verifico."
    ]
    assert [c.status for c in tries] == [429, 200]
    assert tries[1].at - tries[0].at >= 0.9  # the worker waited retry_after (1 s)


async def test_a_stopped_worker_finishes_the_reply_it_is_sending(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession],
    agent_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    """SIGTERM (docker stop, a deploy) while Telegram is slow to answer: the worker stops
    taking jobs, waits for the send in flight, marks it sent and exits cleanly; the reply
    is sent once and no job is left pending."""
    assert (await post_update(services, bot, update("ciao"), bot.secret)).status_code == 200
    conv_id = await conversation_of(db, bot)
    bot.fake.hold_next("sendMessage", 2.0)
    message_id = await reply(agent_http, conv_id, "Arrivo subito.")
    assert await asyncio.to_thread(bot.fake.holding.wait, 15)
    workers = list(services.workers)
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    codes = [await asyncio.to_thread(proc.wait, 15) for proc in workers]
    for proc in workers:
        services.workers.remove(proc)
    services.start_worker()
    assert codes == [0] * len(workers)
    sent = await wait_status(db, message_id, "sent")
    assert sent.external_id is not None
    tries = [c for c in bot.fake.calls_of("sendMessage") if c.params["text"] == "Arrivo subito."]
    assert [c.status for c in tries] == [200]
    redis = Redis.from_url(services.redis_url)
    try:
        assert int((await redis.xpending(OUTBOUND_STREAM, OUTBOUND_GROUP))["pending"]) == 0
    finally:
        await redis.aclose()


async def test_a_blocked_bot_marks_the_reply_failed_with_the_reason(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession],
    agent_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    assert (await post_update(services, bot, update("ciao"), bot.secret)).status_code == 200
    bot.fake.block(CHAT)
    message_id = await reply(agent_http, await conversation_of(db, bot), "Buongiorno!")
    failed = await wait_status(db, message_id, "failed")
    assert failed.error is not None and "blocked by the user" in failed.error
    assert len(bot.fake.calls_of("sendMessage")) == 1  # not retried


async def test_agent_photo_reply_uploads_the_file(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession], clients: Clients,
    agent_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    assert (await post_update(services, bot, update("una foto?"), bot.secret)).status_code == 200
    conv_id = await conversation_of(db, bot)
    up = await agent_http.post("/api/attachments", files={"file": ("mappa.png", PNG, "image/png")})
    assert up.status_code == 201, up.text
    _id, email, password = bot.agent
    agent = await clients.agent(email, password)
    await agent.connect()
    await agent.send({"type": "reply", "client_id": "photo-1", "conversation_id": conv_id,
                      "text": "Eccola", "attachments": [up.json()["id"]]})  # fmt: skip
    ack = await agent.wait_for(lambda f: f.get("client_id") == "photo-1")
    assert ack["type"] == "ack", ack
    await wait_status(db, ack["message"]["id"], "sent")
    (photo,) = bot.fake.calls_of("sendPhoto")
    assert photo.files["photo"] == ("mappa.png", PNG)


async def test_webhook_stores_and_counts(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    """Many updates at once: each stored once, whatever the concurrency."""
    payloads = [update(f"n{n}") for n in range(20)]
    results = await asyncio.gather(
        *(post_update(services, bot, p, bot.secret) for p in payloads + payloads)
    )
    assert all(r.status_code == 200 for r in results)
    async with db() as session:
        count = (
            await session.execute(
                select(func.count()).select_from(Message).where(Message.inbox_id == bot.inbox_id)
            )
        ).scalar_one()
    assert count == 20


async def test_stickers_video_notes_polls_dice_and_stories_say_what_they_are(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8 " + b"\x00" * 16
    MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16
    bot.fake.add_file("st-1", WEBP, "stickers/file_9.webp")
    bot.fake.add_file("vn-1", MP4, "video_notes/file_10.mp4")
    conn = await connector(db, bot)
    payloads = [
        update(None, sticker={"file_id": "st-1", "file_unique_id": "st", "type": "regular",
                              "width": 512, "height": 512, "is_animated": False,
                              "is_video": False, "emoji": "😡"}),
        update(None, video_note={"file_id": "vn-1", "file_unique_id": "vn", "length": 240,
                                 "duration": 7}),
        update(None, poll={"id": "p1", "question": "Quale taglia?", "total_voter_count": 0,
                           "is_closed": False, "is_anonymous": True, "type": "regular",
                           "allows_multiple_answers": False, "allows_revoting": False, "members_only": False,
                           "options": [{"text": "M", "voter_count": 0, "persistent_id": "o1"},
                                       {"text": "L", "voter_count": 0, "persistent_id": "o2"}]}),
        update(None, dice={"emoji": "🎲", "value": 4}),
        update(None, story={"chat": {"id": -100, "type": "channel", "username": "bottega"},
                            "id": 12}),
    ]  # fmt: skip
    for payload in payloads:
        await store(db, conn, files, payload)
    rows = await messages_of(db, bot.inbox_id)
    assert [r.text for r in rows] == ["[sticker 😡]", "[video note, 7 s]",
                                      "📊 Quale taglia?\n• M\n• L", "🎲 4",
                                      "[story shared from @bottega]"]  # fmt: skip
    sticker, note = rows[0].attachments[0], rows[1].attachments[0]
    assert (sticker["kind"], sticker["content_type"]) == ("image", "image/webp")
    assert (note["kind"], note["content_type"]) == ("video", "video/mp4")
    assert sticker["url"].startswith("/api/files/") and note["url"].startswith("/api/files/")
