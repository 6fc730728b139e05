"""The live events of the contacts whose visitors this gateway holds, and no others.

The relay publishes every event that names a contact twice in one script: into the
events stream, and on that contact's channel (inbox/relay.py). A gateway subscribes to
the channels of the contacts its widget sockets belong to. With N gateways, a visitor's
event is read by the gateway that holds the visitor, not by all N. (Agents' sockets
still read the whole stream, gateway/hub.py: they may see any conversation.)

Pub/sub keeps nothing, so the stream stays the record:
- `join` answers once Redis has confirmed the subscription. Only then does a socket read
  what it missed from the stream, so nothing falls between the two.
- When the connection drops, redis-py subscribes again on the new one. The feed notices
  (a channel confirmed a second time) and has the hub read from the stream what was
  published after `since`, before any message of the new connection is offered.
- `since` is the newest id before which no message can be missing. It moves with each
  message and, while idle, with a heartbeat: the stream's newest id, read before a PING
  on the pub/sub connection; once that PING's answer is back, every message published
  before the id has arrived.
- A channel whose last socket left stays subscribed for `LINGER_S`: a visitor who
  reconnects a moment later finds it still there.
- A gateway that holds an agent's socket reads the whole stream, which holds every
  contact's events: it drops its channels (`drop_all`) and subscribes to none again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from gateway.stream_event import StreamEvent, parse_id, text
from inbox.events import EVENTS_STREAM, contact_channel

log = logging.getLogger("crocevia.contact_feed")

LINGER_S = 30.0
HEARTBEAT_S = 2.0


class ContactFeed:
    def __init__(
        self,
        redis: Redis,
        on_event: Callable[[StreamEvent], None],
        catch_up: Callable[[str], Awaitable[str]],
    ) -> None:
        """`on_event` gets each message; `catch_up(since)` offers what the stream holds
        after `since` and returns the newest id it read."""
        self.redis = redis
        self.on_event = on_event
        self.catch_up = catch_up
        self.since = "0-0"
        self._pubsub: PubSub | None = None
        self._confirmed: set[str] = set()
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._to_subscribe: set[str] = set()
        self._idle: dict[str, float] = {}  # channel -> when its last socket left
        self._wake = asyncio.Event()
        self._subscribed = asyncio.Event()  # the reader has something to read
        self._beat: tuple[str, str, float] | None = None  # PING's token, the id it vouches
        # for, when it was sent
        self._reconfirming: set[str] = set()  # the channels a new connection subscribes again
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.received = 0  # messages, since start
        self.catch_ups = 0  # reads of the stream after a lost connection

    async def start(self, since: str) -> None:
        """`since`: the stream's newest id now (nothing is subscribed yet)."""
        self.since = since
        self._pubsub = self.redis.pubsub()
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="contact-feed-read"),
            asyncio.create_task(self._command_loop(), name="contact-feed-commands"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for future in self._waiting.values():
            if not future.done():
                future.cancel()
        if self._pubsub is not None:
            await self._pubsub.aclose()

    def join(self, contact_id: int) -> asyncio.Future[None]:
        """Subscribe to the contact's channel; done once Redis has confirmed it."""
        channel = contact_channel(contact_id)
        self._idle.pop(channel, None)
        waiting = self._waiting.get(channel)
        if waiting is not None:
            return waiting
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if channel in self._confirmed:
            future.set_result(None)
            return future
        self._waiting[channel] = future
        self._to_subscribe.add(channel)
        self._wake.set()
        return future

    def leave(self, contact_id: int) -> None:
        """The contact's last socket here left: unsubscribe after `LINGER_S`."""
        self._idle[contact_channel(contact_id)] = time.monotonic()

    def drop_all(self) -> None:
        """Unsubscribe from every channel at once (the gateway reads the whole stream now)."""
        long_ago = time.monotonic() - LINGER_S
        for channel in self._confirmed | set(self._waiting):
            self._idle[channel] = long_ago
        self._wake.set()

    async def joined(self, timeout: float = 2.0) -> None:
        """Wait for the subscriptions asked for so far (the intake publishes a visitor's
        first message only once their socket's new channel is confirmed)."""
        pending = [f for f in self._waiting.values() if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    @property
    def channels(self) -> int:
        return len(self._confirmed)

    async def _command_loop(self) -> None:
        assert self._pubsub is not None
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), HEARTBEAT_S)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._send_commands(self._pubsub)
            except (RedisError, OSError) as exc:
                if self._stopping:
                    return
                self._beat = None
                log.warning("contact_feed_command_failed", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)
                self._wake.set()

    async def _send_commands(self, pubsub: PubSub) -> None:
        if self._to_subscribe:
            channels = sorted(self._to_subscribe)
            await pubsub.subscribe(*channels)
            self._to_subscribe.difference_update(channels)
            self._subscribed.set()
        now = time.monotonic()
        gone = [c for c, left in self._idle.items() if now - left >= LINGER_S]
        if gone:
            for channel in gone:
                del self._idle[channel]
                self._confirmed.discard(channel)
            await pubsub.unsubscribe(*gone)
        if self._beat is not None and now - self._beat[2] > 5 * HEARTBEAT_S:
            self._beat = None  # its answer was lost with a connection
        if self._confirmed and self._beat is None:
            newest = await self.redis.xrevrange(EVENTS_STREAM, "+", "-", count=1)
            token = uuid.uuid4().hex
            self._beat = (token, text(newest[0][0]) if newest else "0-0", now)
            await pubsub.ping(token)

    async def _read_loop(self) -> None:
        assert self._pubsub is not None
        pubsub = self._pubsub
        while not self._stopping:
            if not pubsub.subscribed:
                self._subscribed.clear()
                await self._subscribed.wait()
            try:
                message = await pubsub.get_message(timeout=HEARTBEAT_S)
            except (RedisError, OSError) as exc:
                if self._stopping:
                    return
                self._beat = None
                log.warning("contact_feed_read_failed", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)
                continue
            if message is not None:
                await self._handle(message)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            try:
                ev = StreamEvent.from_published(message["data"])
            except (ValueError, UnicodeDecodeError) as exc:
                log.error("contact_feed_bad_message", extra={"error": str(exc)})
                return
            self.received += 1
            if parse_id(ev.id) > parse_id(self.since):
                self.since = ev.id
            self.on_event(ev)
        elif kind == "subscribe":
            channel = text(message["channel"])
            if channel in self._reconfirming:
                self._reconfirming.discard(channel)
            elif channel in self._confirmed:  # subscribed again: a new connection
                self._beat = None
                self._reconfirming = self._confirmed - {channel}
                await self._catch_up()
            self._confirmed.add(channel)
            waiting = self._waiting.pop(channel, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)
        elif kind == "pong" and self._beat is not None:
            token, vouched, _sent = self._beat
            if text(message["data"]) == token:
                self._beat = None
                if parse_id(vouched) > parse_id(self.since):
                    self.since = vouched

    async def _catch_up(self) -> None:
        while not self._stopping:
            try:
                newest = await self.catch_up(self.since)
            except (RedisError, OSError) as exc:
                log.warning("contact_feed_catch_up_failed", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)
                continue
            self.catch_ups += 1
            if parse_id(newest) > parse_id(self.since):
                self.since = newest
            log.info("contact_feed_caught_up", extra={"since": self.since})
            return
