"""Fan-out: the events of the sockets a gateway process holds, to those sockets.

Each socket is a `Subscriber` (gateway/subscriber.py) with a filter (who may see what)
and the frames waiting to be written, which its socket's writer sends
(gateway/sockets.py). Events come from two places:

- Widget visitors see only their own contact's events. The gateway subscribes to the
  channels of the contacts it holds (gateway/contact_feed.py) and reads nothing else
  for them: a visitor's event is read by the one gateway holding that visitor.
- Agents may see any conversation: a gateway holding an agent's socket reads the whole
  events stream (XREAD), from the moment its first agent connects. From then on its
  visitors' events come from the stream too, and it drops its contacts' channels: no
  event is read twice.

A socket that resumes from a last id is first buffered, replayed (from the events kept
in memory, gateway/recent_events.py, or else from the stream with XRANGE, exclusive
start), then switched to live events with everything it already replayed dropped:
nothing is skipped and nothing arrives twice. A visitor's replay begins only once their
channel is confirmed, so that whatever the replay does not hold arrives live.

Before replaying, a resume has the memory brought up to date by a read sent after it
asked (shared with the resumes that ask meanwhile: `_refreshed`): in one round trip the
stream's oldest id, the count of erasures (inbox/stream_purge.py) and the newest events
the memory lacks. When a contact's events were deleted from the stream, the hub forgets
what it kept as well.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.contact_feed import ContactFeed
from gateway.metrics import HUB_EVENTS_READ
from gateway.recent_events import RecentEvents
from gateway.stream_event import StreamEvent, parse_id, text
from gateway.subscriber import Subscriber
from inbox import json_codec
from inbox.events import EPHEMERAL_CHANNEL, EVENTS_STREAM
from inbox.stream_purge import PURGES_KEY
from inbox.stream_read import after, entries_from, read_reply

log = logging.getLogger("crocevia.hub")

# How far back a socket may resume (and how long the stream keeps events: the router
# trims it to this window); older, or "0-0", is told to resync over REST.
RESUME_WINDOW_S = float(os.environ.get("CROCEVIA_RESUME_WINDOW_S", str(24 * 3600)))
# The newest events a resume reads for the memory; more missing, and it starts again.
NEWEST_COUNT = 1000
JOIN_TIMEOUT_S = 5.0
STREAM_READ = HUB_EVENTS_READ.labels("stream")
CONTACTS_READ = HUB_EVENTS_READ.labels("contacts")


def _id(sid: tuple[int, int]) -> str:
    return f"{sid[0]}-{sid[1]}"


class Hub:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.subscribers: set[Subscriber] = set()  # offered every event (agents)
        self.by_contact: dict[int, set[Subscriber]] = {}  # offered their contact's (visitors)
        self.recent = RecentEvents()
        self.feed = ContactFeed(redis, self._from_feed, self._catch_up)
        self._reader: asyncio.Task[None] | None = None  # the stream's, for agents
        self._ephemeral: asyncio.Task[None] | None = None
        self._position = "0-0"
        self._stream_from: tuple[int, int] | None = None  # where the reader began
        self._refreshing = asyncio.Lock()
        self._refreshes: set[asyncio.Task[None]] = set()
        self._next_refresh: asyncio.Future[Any] | None = None  # shared by resumes (_refreshed)
        self._purges: bytes | str | None = None  # the erasure count the kept events are as of
        self._reads = 0  # XREADs issued; one in flight at a forget may carry erased events
        self._forgot_at_read = 0
        self._stopping = False

    async def start(self) -> None:
        self._purges = await self.redis.get(PURGES_KEY)
        tip = await self.tip()
        self.recent.reset(parse_id(tip) if tip else (0, 0))
        await self.feed.start(tip or "0-0")
        self._ephemeral = asyncio.create_task(self._ephemeral_loop(), name="hub-ephemeral")

    async def stop(self) -> None:
        # A cancel that lands inside a Redis read can come out of redis-py as a connection
        # error, which the loops would take for a blip and retry: they also check this.
        self._stopping = True
        tasks = [t for t in (self._reader, self._ephemeral, *self._refreshes) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.feed.stop()

    async def tip(self) -> str | None:
        """The id of the newest event in the stream (the `last_event_id` of a REST read)."""
        newest = await self.redis.xrevrange(EVENTS_STREAM, "+", "-", count=1)
        return text(newest[0][0]) if newest else None

    async def joined(self) -> None:
        """Wait until the contacts' channels asked for so far are subscribed (see `move`)."""
        await self.feed.joined()

    def _read_stream_from(self, position: str) -> None:
        """An agent's socket is here: read the whole stream after `position`, from now on."""
        if self._reader is not None or self._stopping:
            return
        self._position = position
        self._stream_from = parse_id(position)
        end = self.recent.end
        if end is None or end < self._stream_from:
            self.recent.reset(self._stream_from)  # what it holds would have a gap
        self._reader = asyncio.create_task(self._read_loop(), name="hub-stream")
        self.feed.drop_all()

    async def _read_loop(self) -> None:
        backoff = 0.1
        while not self._stopping:
            self._reads += 1
            read = self._reads
            try:
                batch = await self.redis.xread(
                    {EVENTS_STREAM: self._position}, block=2000, count=500
                )
                backoff = 0.1
            except (RedisError, OSError) as exc:
                if self._stopping:
                    return
                log.warning("hub_read_failed", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            entries = read_reply(batch)
            STREAM_READ.inc(len(entries))
            for entry_id, fields in entries:
                self._position = entry_id
                try:
                    ev = StreamEvent.from_entry(entry_id, fields)
                except (KeyError, ValueError) as exc:
                    log.error("hub_bad_entry", extra={"id": entry_id, "error": str(exc)})
                    continue
                if read > self._forgot_at_read:
                    self.recent.keep(ev)
                elif ev.sid > (self.recent.end or (0, 0)):
                    self.recent.reset(ev.sid)  # read before an erasure was heard of: not kept
                for sub in list(self.subscribers):
                    sub.offer(ev)
                self._offer_to_contact(ev)

    def _from_feed(self, ev: StreamEvent) -> None:
        CONTACTS_READ.inc()
        if self._stream_from is not None and ev.sid > self._stream_from:
            return  # the stream's reader has it (its channel is being dropped)
        self._offer_to_contact(ev)

    def _offer_to_contact(self, ev: StreamEvent) -> None:
        contact = ev.int_route("contact")
        if contact is not None:
            for sub in list(self.by_contact.get(contact, ())):
                sub.offer(ev)

    async def _catch_up(self, since: str) -> str:
        """The contacts' channels were lost for a while: offer what the stream holds after
        `since` to their sockets. Returns the newest id read."""
        newest = start = since
        while True:
            entries = await entries_from(self.redis, EVENTS_STREAM, after(start), 1000)
            for entry_id, fields in entries:
                newest = entry_id
                try:
                    self._offer_to_contact(StreamEvent.from_entry(entry_id, fields))
                except (KeyError, ValueError) as exc:
                    log.error("hub_bad_entry", extra={"id": entry_id, "error": str(exc)})
            if len(entries) < 1000:
                return newest
            start = entries[-1][0]

    def _forget_recent(self) -> None:
        """Some events were erased from the stream: keep none of what was read so far."""
        self.recent.reset(self.recent.end)
        self._forgot_at_read = self._reads

    def _replay_from_memory(self, sub: Subscriber, last: tuple[int, int]) -> bool:
        """Deliver what came after `last` from the events kept, if they hold all of it."""
        if not self.recent.covers(last):
            return False
        for ev in self.recent.after(last):
            sub.deliver(ev)
        return True

    async def _ephemeral_loop(self) -> None:
        while not self._stopping:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(EPHEMERAL_CHANNEL)
                    async for message in pubsub.listen():
                        payload = json_codec.loads(message["data"])
                        if "control" in payload:
                            for sub in list(self.subscribers):
                                if sub.on_control is not None:
                                    sub.on_control(payload["control"])
                            continue
                        frame = json_codec.dumps(payload["frame"])
                        for sub in self._targets(payload.get("contact_id")):
                            if sub.accepts_ephemeral(payload):
                                sub.put_frame(frame)
            except (RedisError, OSError, ValueError, KeyError) as exc:
                if self._stopping:
                    return
                log.warning("hub_ephemeral_failed", extra={"error": str(exc)})
                await asyncio.sleep(1.0)

    def _targets(self, contact_id: Any) -> list[Subscriber]:
        targets = list(self.subscribers)
        if isinstance(contact_id, int):
            targets.extend(self.by_contact.get(contact_id, ()))
        return targets

    def _add(self, sub: Subscriber) -> None:
        if sub.contact_id is None:
            self.subscribers.add(sub)
            return
        group = self.by_contact.get(sub.contact_id)
        if group is None:
            group = self.by_contact[sub.contact_id] = set()
            if sub.contact_id and self._reader is None:
                self.feed.join(sub.contact_id)
        group.add(sub)

    async def publish_control(self, control: dict[str, Any]) -> None:
        """Tell every gateway's agent sockets something about sessions (e.g. a logout)."""
        await self.redis.publish(EPHEMERAL_CHANNEL, json_codec.dumps_bytes({"control": control}))

    async def publish_ephemeral(self, routing: dict[str, Any], frame: dict[str, Any]) -> None:
        await self.redis.publish(
            EPHEMERAL_CHANNEL, json_codec.dumps_bytes({**routing, "frame": frame})
        )

    async def subscribe(self, sub: Subscriber, last_id: str | None) -> bool:
        """Register a socket. With `last_id`, replay what came after it first.
        Returns False when `last_id` is older than the stream keeps: the client must resync."""
        sub.buffering = True
        self._add(sub)
        try:
            if sub.contact_id and self._reader is None:
                await self._joined(sub.contact_id)
            if last_id is None:
                tip = await self.tip()
                sub.last_id = parse_id(tip) if tip else (0, 0)
                self._reader_for(sub, _id(sub.last_id))
                return True
            return await self._resume(sub, last_id)
        finally:
            sub.end_buffering()

    async def _joined(self, contact_id: int) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self.feed.join(contact_id)), JOIN_TIMEOUT_S)
        except TimeoutError:  # Redis is away: the socket is told to come back (1013)
            raise RedisTimeoutError(
                f"contact channel not subscribed in {JOIN_TIMEOUT_S} s"
            ) from None

    def _reader_for(self, sub: Subscriber, position: str) -> None:
        if sub.contact_id is None:
            self._read_stream_from(position)

    async def _resume(self, sub: Subscriber, last_id: str) -> bool:
        last = parse_id(last_id)
        too_old = last[0] < (time.time() - RESUME_WINDOW_S) * 1000
        first: tuple[int, int] | None = None  # the stream's oldest id
        if not too_old:
            first, tip = await self._refreshed()
            self._reader_for(sub, _id(tip or (0, 0)))
            if first is None or first <= last:
                sub.last_id = last
                if self._replay_from_memory(sub, last):  # no await: nothing slips by
                    return True
        if too_old or (first is not None and first > last):
            tip_id = await self.tip()
            sub.last_id = parse_id(tip_id) if tip_id else (0, 0)
            self._reader_for(sub, _id(sub.last_id))
            sub.put_frame(json_codec.dumps({"type": "resync", "reason": "last_event_id expired"}))
            return False
        sub.last_id = last
        start = last_id
        while True:
            # "(" (exclusive start) needs Redis 6.2 or newer.
            entries = await entries_from(self.redis, EVENTS_STREAM, after(start), 1000)
            for entry_id, fields in entries:
                sub.deliver(StreamEvent.from_entry(entry_id, fields))
            if len(entries) < 1000:
                break
            start = entries[-1][0]
        self._reader_for(sub, start if not entries else entries[-1][0])
        return True

    async def _refreshed(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """Bring the memory up to the stream's newest event, with a read issued after this
        call: the stream's oldest id, the count of erasures and the newest events the memory
        lacks, in one round trip. Returns the oldest and the newest ids.

        Resumes that ask while no read is about to be sent share the next one: in a storm,
        thousands of sockets wait on two or three reads, not one read each."""
        waiting = self._next_refresh
        if waiting is None:
            waiting = self._next_refresh = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._refresh(waiting), name="hub-refresh")
            self._refreshes.add(task)
            task.add_done_callback(self._refreshes.discard)
        return await asyncio.shield(waiting)

    async def _refresh(self, answer: asyncio.Future[Any]) -> None:
        async with self._refreshing:  # one read in flight; the next waits for it
            self._next_refresh = None  # who asks from now on needs a later read
            try:
                generation, end = self.recent.generation, self.recent.end
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xrange(EVENTS_STREAM, "-", "+", count=1)
                    pipe.get(PURGES_KEY)
                    pipe.xrevrange(EVENTS_STREAM, "+", after(_id(end)) if end else "-",
                                   count=NEWEST_COUNT)  # fmt: skip
                    first, purges, newest = await pipe.execute()
                if purges != self._purges:
                    self._purges = purges
                    self._forget_recent()
                fresh = [StreamEvent.from_entry(i, f) for i, f in newest or ()]
                self.recent.add_newest(fresh, len(fresh) < NEWEST_COUNT, generation)
                oldest = parse_id(text(first[0][0])) if first else None
                answer.set_result((oldest, fresh[0].sid if fresh else end))
            except Exception as exc:  # each waiting resume fails with it (the socket: 1013)
                answer.set_exception(exc)
                answer.exception()  # retrieved: no waiter left is no error

    def move(self, sub: Subscriber, contact_id: int) -> None:
        """A visitor socket's contact was made (their first message): offer it that
        contact's events from now on. The channel's subscription is only asked for
        here; the intake publishes the message's events once it is confirmed (`joined`,
        gateway/batcher.py), so that none of them can pass the socket by."""
        self.unsubscribe(sub)
        sub.contact_id = contact_id
        self._add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub.contact_id is None:
            self.subscribers.discard(sub)
            return
        group = self.by_contact.get(sub.contact_id)
        if group is not None:
            group.discard(sub)
            if not group:
                del self.by_contact[sub.contact_id]
                if sub.contact_id and self._reader is None:
                    self.feed.leave(sub.contact_id)
