"""Telegram by long polling: the stored offset survives a restart, nothing is missed or
stored twice (tests/connectors/telegram_bot.py has the inbox and the local Bot API)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from conftest import Services
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram_bot import Bot, bot, connector, fake, files, messages_of

from connectors.telegram import open_bot
from inbox.files import FileStore
from inbox.model import ChannelCursor
from receivers.telegram_polling import CURSOR_KIND, TelegramPoller

pytestmark = pytest.mark.timeout(90)


async def test_polling_resumes_from_the_stored_offset(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    fake = bot.fake
    first = [bot.update(f"messaggio {n}", update_id=100 + n) for n in range(3)]
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
    fake.push_update(bot.update("messaggio 3", update_id=103))
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
    fake.push_update(bot.update("messaggio 4", update_id=104))
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
        fake.push_update(bot.update("uno", update_id=500))
        fake.push_update(bot.update("due", update_id=501))
        await wait_count(2)
        await wait_offset(502)  # stored after the messages, in its own transaction
    finally:
        services.stop(proc)
    assert fake.webhook == {}
    before = len(fake.calls_of("getUpdates"))
    fake.push_update(bot.update("tre", update_id=502))
    proc = start()
    try:
        await wait_count(3)
    finally:
        services.stop(proc)
    assert [m.text for m in await messages_of(db, bot.inbox_id)] == ["uno", "due", "tre"]
    # The restarted poller asked from the stored offset, not from the beginning.
    assert fake.calls_of("getUpdates")[before].params.get("offset") == "502"


# -- outbound --------------------------------------------------------------------------
