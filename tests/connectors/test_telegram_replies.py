"""Telegram out: plain text in parts, files, 429s and blocked bots, through the gateway
and the worker (tests/connectors/telegram_bot.py has the inbox and the local Bot API)."""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
import time

import httpx
import pytest
from agent_replies import reply, wait_status
from conftest import Services
from crocevia_clients import Clients
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram_bot import (
    JPEG,
    PDF,
    PNG,
    Bot,
    agent_http,
    bot,
    connector,
    fake,
    files,
    messages_of,
    outbound,
    post_update,
)

from connectors.telegram import SECRET_HEADER
from inbox.events import OUTBOUND_GROUP, OUTBOUND_STREAM
from inbox.files import FileStore, stored_contents
from inbox.model import Conversation, Inbox, Message
from inbox.types import Attachment, DeliveryError

pytestmark = pytest.mark.timeout(90)


async def test_text_goes_as_plain_text_in_parts_of_4096(
    bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    conn = await connector(db, bot)
    text = "*non grassetto* _né corsivo_ [link](http://x) <b>tag</b> `code` 1.5 - ok!"
    receipt = await conn.send(outbound(bot, text))
    (call,) = bot.fake.calls_of("sendMessage")
    assert call.params["text"] == text and "parse_mode" not in call.params
    assert call.params["chat_id"] == str(bot.chat)
    assert receipt.external_id.startswith(f"{bot.chat}:")

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

    bot.fake.block(bot.chat)
    with pytest.raises(DeliveryError) as blocked:
        await conn.send(outbound(bot, "ciao"))
    assert not blocked.value.retryable and "blocked by the user" in blocked.value.reason


# -- through the gateway and the worker ------------------------------------------------


async def test_webhook_refuses_a_wrong_secret_and_stores_with_the_right_one(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    bot.fake.add_file("ph-w", JPEG, "photos/w.jpg")
    payload = bot.update(None, caption="foto",
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


async def conversation_of(db: async_sessionmaker[AsyncSession], bot: Bot) -> int:
    async with db() as session:
        return (
            await session.execute(
                select(Conversation.id).where(Conversation.inbox_id == bot.inbox_id)
            )
        ).scalar_one()


async def test_agent_reply_reaches_telegram_after_a_429(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession],
    agent_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    r = await post_update(services, bot, bot.update("Ho bisogno di aiuto"), bot.secret)
    assert r.status_code == 200
    conv_id = await conversation_of(db, bot)

    first = await reply(agent_http, conv_id, "Certo! *Come* posso aiutarla?")
    (call,) = await bot.fake.wait_for_call("sendMessage")
    assert call.params["text"] == "Certo! *Come* posso aiutarla?"
    assert call.params["chat_id"] == str(bot.chat) and "parse_mode" not in call.params
    sent = await wait_status(db, first, "sent")
    assert sent.external_id is not None and sent.external_id.startswith(f"{bot.chat}:")

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
    assert (await post_update(services, bot, bot.update("ciao"), bot.secret)).status_code == 200
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
    assert (await post_update(services, bot, bot.update("ciao"), bot.secret)).status_code == 200
    bot.fake.block(bot.chat)
    message_id = await reply(agent_http, await conversation_of(db, bot), "Buongiorno!")
    failed = await wait_status(db, message_id, "failed")
    assert failed.error is not None and "blocked by the user" in failed.error
    assert len(bot.fake.calls_of("sendMessage")) == 1  # not retried


async def test_agent_photo_reply_uploads_the_file(
    bot: Bot, services: Services, db: async_sessionmaker[AsyncSession], clients: Clients,
    agent_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    assert (
        await post_update(services, bot, bot.update("una foto?"), bot.secret)
    ).status_code == 200
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
    payloads = [bot.update(f"n{n}") for n in range(20)]
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
