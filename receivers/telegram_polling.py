"""Telegram without a public URL: a getUpdates loop (`crocevia telegram poll INBOX_ID`).

The update offset lives in the `channel_cursors` table (kind "telegram.updates").
Each round asks for updates from the stored offset, parses them, prepares them
(inbox/preparation.py: files downloaded, `/start` payloads linked), stores the messages
in one transaction (inbox/intake.py), publishes their events after the commit, and only
then stores the next offset. A crash before the offset is stored makes Telegram hand
the same updates again, and ingest keeps one message per `chat_id:message_id`: a
restart neither misses an update nor stores one twice.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from connectors.base import ParseError
from connectors.telegram import (
    ALLOWED_UPDATES,
    ConfigError,
    TelegramConnector,
    deep_link,
    open_bot,
    retry_after_seconds,
    start_token,
)
from inbox import preparation
from inbox.db import create_engine, sessionmaker
from inbox.files import FileStore
from inbox.ingest import Tagger
from inbox.intake import Intake, NotStored
from inbox.model import ChannelCursor, Inbox
from inbox.redis_client import open_redis
from inbox.relay import Relay
from inbox.types import Channel, InboundMessage

log = logging.getLogger("crocevia.telegram.polling")

CURSOR_KIND = "telegram.updates"
BATCH = 100


@dataclass
class TelegramPoller:
    connector: TelegramConnector
    sessions: async_sessionmaker[AsyncSession]
    files: FileStore
    secret_key: str
    relay: Relay | None = None
    tagger: Tagger | None = None
    timeout: float | None = None  # long-poll seconds; the inbox's poll_timeout by default
    rounds: int = field(default=0, init=False)
    intake: Intake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = Intake(self.sessions, self.relay, self.tagger)

    @property
    def inbox_id(self) -> int:
        return self.connector.inbox_id

    async def offset(self) -> int | None:
        async with self.sessions() as session:
            cursor = await session.get(ChannelCursor, (self.inbox_id, CURSOR_KIND))
            return int(cursor.state["offset"]) if cursor and "offset" in cursor.state else None

    async def _save_offset(self, offset: int) -> None:
        async with self.sessions() as session, session.begin():
            cursor = await session.get(ChannelCursor, (self.inbox_id, CURSOR_KIND))
            if cursor is None:
                session.add(
                    ChannelCursor(
                        inbox_id=self.inbox_id, kind=CURSOR_KIND, state={"offset": offset}
                    )
                )
            elif int(cursor.state.get("offset", 0)) < offset:
                cursor.state = {**cursor.state, "offset": offset}

    def _parse(self, payload: dict[str, object]) -> list[InboundMessage]:
        try:
            return self.connector.parse(payload)
        except ParseError as exc:  # one odd update must not stop the inbox
            log.warning("telegram_update_skipped", extra={"inbox": self.inbox_id,
                                                          "error": str(exc)})  # fmt: skip
            return []

    async def poll_once(self, bot: Bot) -> int:
        """One getUpdates round; returns how many updates it consumed."""
        timeout = self.connector.config.poll_timeout if self.timeout is None else self.timeout
        updates = await bot.get_updates(
            offset=await self.offset(), limit=BATCH, timeout=int(timeout),
            allowed_updates=list(ALLOWED_UPDATES),
        )  # fmt: skip
        self.rounds += 1
        if not updates:
            return 0
        items = [i for u in updates for i in self._parse(u.to_dict())]
        items = await preparation.prepare(
            self.connector, items, sessions=self.sessions, files=self.files,
            secret_key=self.secret_key,
        )  # fmt: skip
        await self.intake.store_all(items)
        await self._save_offset(updates[-1].update_id + 1)
        return len(updates)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll until `stop` is set (or the task is cancelled), backing off on failures."""
        stop = stop or asyncio.Event()
        failures = 0
        timeout = self.connector.config.poll_timeout if self.timeout is None else self.timeout
        async with open_bot(self.connector.config, poll_timeout=timeout) as bot:
            while not stop.is_set():
                try:
                    await self._until_stopped(self.poll_once(bot), stop)
                    failures = 0
                    continue
                except InvalidToken:
                    raise
                except RetryAfter as exc:
                    delay = retry_after_seconds(exc)
                except Conflict as exc:  # a webhook is set, or another poller runs
                    log.error("telegram_poll_conflict", extra={"inbox": self.inbox_id,
                                                              "error": exc.message})  # fmt: skip
                    delay = 10.0
                except (TelegramError, SQLAlchemyError, OSError, NotStored) as exc:
                    failures += 1
                    delay = min(0.5 * 2**failures, 30.0)
                    log.warning("telegram_poll_failed", extra={"inbox": self.inbox_id,
                                                              "error": repr(exc)})  # fmt: skip
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass

    @staticmethod
    async def _until_stopped(work: Coroutine[Any, Any, int], stop: asyncio.Event) -> None:
        """Run one round, abandoning it when `stop` is set (a long poll can last 25 s).
        An abandoned round stored nothing or did not save its offset: the next run gets
        those updates again and ingest drops what it already has."""
        task = asyncio.create_task(work)
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, stopped):
                if not t.done():
                    t.cancel()
            await asyncio.gather(stopped, return_exceptions=True)
        if task.done() and not task.cancelled():
            task.result()  # re-raise the round's failure
        else:
            await asyncio.gather(task, return_exceptions=True)


# -- the commands `crocevia telegram set-webhook | poll | link` ------------------------


async def _connector(
    sessions: async_sessionmaker[AsyncSession], inbox_id: int, files: FileStore | None = None
) -> TelegramConnector:
    async with sessions() as session:
        inbox = await session.get(Inbox, inbox_id)
    if inbox is None or inbox.channel != Channel.TELEGRAM.value:
        raise SystemExit(f"no telegram inbox {inbox_id}")
    connector = TelegramConnector.for_inbox(inbox)
    if connector.config.problem:
        raise SystemExit(f"inbox {inbox_id}: {connector.config.problem}")
    return connector


async def set_webhook_command(database_url: str, inbox_id: int, public_url: str) -> str:
    engine = create_engine(database_url)
    try:
        connector = await _connector(sessionmaker(engine), inbox_id)
        return await connector.set_webhook(public_url)
    finally:
        await engine.dispose()


async def link_command(database_url: str, secret_key: str, inbox_id: int, contact_id: int) -> str:
    engine = create_engine(database_url)
    try:
        connector = await _connector(sessionmaker(engine), inbox_id)
        async with open_bot(connector.config) as bot:
            me = await bot.get_me()
        if not me.username:
            raise ConfigError("the bot has no username: Telegram links need one")
        return deep_link(me.username, start_token(secret_key, inbox_id, contact_id))
    finally:
        await engine.dispose()


async def poll_command(
    database_url: str,
    redis_url: str,
    files: FileStore,
    secret_key: str,
    inbox_id: int,
    tagger: Tagger | None = None,
) -> None:
    """Poll one inbox until SIGTERM or SIGINT; the relay publishes the events."""
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    redis = open_redis(redis_url, health_check_interval=10)
    relay = Relay(redis, sessions)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with relay.running():
            connector = await _connector(sessions, inbox_id, files)
            async with open_bot(connector.config) as bot:
                await bot.delete_webhook()  # getUpdates answers 409 while a webhook is set
            log.info("telegram_polling", extra={"inbox": inbox_id})
            await TelegramPoller(connector, sessions, files, secret_key, relay, tagger).run(stop)
    finally:
        await redis.aclose()
        await engine.dispose()
