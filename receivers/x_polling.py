"""X without the Account Activity webhook: polling the v2 API (`crocevia x poll INBOX_ID`).

Two cursors live in `channel_cursors`: "x.mentions" holds the newest mention id seen
(`since_id` of the next `GET /2/users/:id/mentions`, every page read before it moves),
and "x.dm_events" the newest DM event id seen (`GET /2/dm_events` has no `since_id`:
pages are read, newest first, back to that id). A round stores its messages
(`ingest_many`), publishes their events, and only then moves the cursor. A crash
before the cursor moves makes the next round read the same messages again, and
ingest keeps one message per id: a restart neither misses nor repeats. The first
round of an inbox without a cursor reads one page (the latest 100).

A 429 stops the round with nothing moved; the loop waits until `x-rate-limit-reset`
and goes on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import tweepy
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.x import USER_FIELDS, XConnector, open_client, seconds_until_reset
from inbox.db import create_engine, sessionmaker
from inbox.ingest import Tagger
from inbox.intake import Intake, NotStored
from inbox.model import ChannelCursor, Inbox
from inbox.redis_client import open_redis
from inbox.relay import Relay
from inbox.types import Channel, InboundMessage

log = logging.getLogger("crocevia.x.polling")

MENTIONS = "x.mentions"
DM_EVENTS = "x.dm_events"
PAGE = 100
MAX_PAGES = 50  # a backlog longer than 5,000 is read over several rounds
MAX_BACKOFF = 300.0


def _from(fetch: Callable[[tweepy.Client, str | None], Fetched], since: str | None,
          client: tweepy.Client) -> Fetched:  # fmt: skip
    """`fetch` from the cursor `since`, as a one-argument call for `_call`."""
    return fetch(client, since)


class RateLimited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.0f}s")
        self.wait = wait


Fetched = tuple[list[dict[str, Any]], str | None]  # pages, the newest id seen


def _newer(a: str | None, b: str | None) -> str | None:
    """The larger of two X ids (snowflakes grow with time)."""
    if a is None or b is None:
        return a or b
    return a if int(a) >= int(b) else b


@dataclass
class XPoller:
    connector: XConnector
    sessions: async_sessionmaker[AsyncSession]
    relay: Relay | None = None
    tagger: Tagger | None = None
    rounds: int = field(default=0, init=False)
    intake: Intake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = Intake(self.sessions, self.relay, self.tagger)

    @property
    def inbox_id(self) -> int:
        return self.connector.inbox_id

    async def cursor(self, kind: str) -> str | None:
        async with self.sessions() as session:
            row = await session.get(ChannelCursor, (self.inbox_id, kind))
            return str(row.state["last_id"]) if row and row.state.get("last_id") else None

    async def _save(self, kind: str, last_id: str) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.get(ChannelCursor, (self.inbox_id, kind))
            if row is None:
                session.add(ChannelCursor(inbox_id=self.inbox_id, kind=kind,
                                          state={"last_id": last_id}))  # fmt: skip
            else:
                row.state = {"last_id": last_id}

    # -- fetching (tweepy is synchronous: these run in a thread) ---------------------------

    def _call(self, fetch: Callable[[tweepy.Client], Fetched]) -> Fetched:
        client = open_client(self.connector.config)
        try:
            return fetch(client)
        except tweepy.TooManyRequests as exc:
            raise RateLimited(seconds_until_reset(exc)) from None
        finally:
            client.session.close()

    def _mentions(self, client: tweepy.Client, since: str | None) -> Fetched:
        account = self.connector.config.account_id
        if not account:
            raise ValueError("the X inbox has no account_id setting")
        pages: list[dict[str, Any]] = []
        newest, token = since, None
        for _ in range(MAX_PAGES):
            body = client.get_users_mentions(
                account, since_id=since, pagination_token=token, max_results=PAGE,
                expansions=["author_id"], user_fields=USER_FIELDS,
                tweet_fields=["created_at", "author_id", "referenced_tweets", "conversation_id"],
                user_auth=not self.connector.config.bearer_token,
            )  # fmt: skip
            pages.append(body)
            for tw in body.get("data") or []:
                newest = _newer(newest, str(tw["id"]))
            token = (body.get("meta") or {}).get("next_token")
            if not token or since is None:
                break
        return pages, newest

    def _dm_events(self, client: tweepy.Client, since: str | None) -> Fetched:
        pages: list[dict[str, Any]] = []
        newest, token = since, None
        for _ in range(MAX_PAGES):
            body = client.get_direct_message_events(
                pagination_token=token, max_results=PAGE, expansions=["sender_id", "attachments.media_keys"],
                dm_event_fields=["id", "text", "event_type", "created_at", "sender_id",
                                 "dm_conversation_id", "attachments"],
                user_fields=USER_FIELDS, media_fields=["url", "type"],
            )  # fmt: skip
            events = body.get("data") or []
            fresh = [ev for ev in events if since is None or int(ev["id"]) > int(since)]
            pages.append({**body, "data": fresh})
            for ev in fresh:
                newest = _newer(newest, str(ev["id"]))
            token = (body.get("meta") or {}).get("next_token")
            if not token or since is None or len(fresh) < len(events):
                break
        return pages, newest

    # -- one round ----------------------------------------------------------------------------

    async def poll_once(self) -> int:
        """Read new mentions and DMs, store them, then move the cursors. Returns how many
        messages were new to this round (duplicates of webhook deliveries included)."""
        self.rounds += 1
        stored = 0
        for kind, fetch, parse in (
            (MENTIONS, self._mentions, self.connector.parse_mentions),
            (DM_EVENTS, self._dm_events, self.connector.parse_dm_events),
        ):
            since = await self.cursor(kind)
            pages, newest = await asyncio.to_thread(
                self._call, functools.partial(_from, fetch, since)
            )
            items = [m for body in pages for m in parse(body)]
            stored += await self._store(items)
            if newest and newest != since:
                await self._save(kind, newest)
        return stored

    async def _store(self, items: list[InboundMessage]) -> int:
        if not items:
            return 0
        stored = await self.intake.store_all(items)
        return sum(1 for r in stored if r.created)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll every `poll_interval` seconds until `stop` is set; wait out rate limits."""
        stop = stop or asyncio.Event()
        failures = 0
        while not stop.is_set():
            wait = self.connector.config.poll_interval
            try:
                await self.poll_once()
                failures = 0
            except RateLimited as exc:
                log.warning("x_rate_limited", extra={"inbox": self.inbox_id, "wait": exc.wait})
                wait = exc.wait
            except (NotStored, SQLAlchemyError, OSError, requests.RequestException,
                    tweepy.TweepyException, ValueError) as exc:  # fmt: skip
                failures += 1
                wait = min(2.0**failures, MAX_BACKOFF)
                log.warning("x_poll_failed", extra={"inbox": self.inbox_id, "error": repr(exc)})
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass


async def poll_command(
    database_url: str, redis_url: str, inbox_id: int, tagger: Tagger | None = None,
    *, once: bool = False,
) -> int:  # fmt: skip
    """Poll one X inbox until SIGTERM or SIGINT (or one round with `once`)."""
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    redis = open_redis(redis_url, health_check_interval=10)
    relay = Relay(redis, sessions)
    try:
        async with sessions() as session:
            inbox = await session.get(Inbox, inbox_id)
        if inbox is None or inbox.channel != Channel.X:
            raise SystemExit(f"no X inbox {inbox_id}")
        poller = XPoller(XConnector.for_inbox(inbox), sessions, relay, tagger)
        if once:
            return await poller.poll_once()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("x_polling", extra={"inbox": inbox_id})
        async with relay.running():  # marks and sweeps
            await poller.run(stop)
        return 0
    finally:
        await relay.mark_published()
        await redis.aclose()
        await engine.dispose()
