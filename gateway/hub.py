"""Fan-out: one reader of `crocevia:events` per gateway process, many sockets.

Each socket is a `Subscriber` with a filter (who may see what) and the frames waiting
to be written, which its socket's writer sends (gateway/sockets.py). An idle socket
holds no queue, no dedupe map and no writer task: each is made when first needed. A
socket that resumes from a last id is first buffered, replayed from the stream
(XRANGE, exclusive start), then switched to live events with everything it
already replayed dropped: nothing is skipped and nothing arrives twice.

The hub also keeps the events it read lately (`RECENT_LIMIT`), parsed: a socket that
resumes from an id among them is replayed from memory, at once and without a Redis
round trip, which is what a reconnect storm (thousands of sockets resuming from nearly
the same id after a network blip) needs. Each resume reads the count of erasures
(inbox/stream_purge.py) in the same round trip as the stream's oldest id: when a
contact's events were deleted from the stream, the hub forgets what it kept as well.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from inbox import json_codec
from inbox.events import EPHEMERAL_CHANNEL, EVENTS_STREAM, ROUTE_FIELDS
from inbox.stream_purge import PURGES_KEY
from inbox.stream_read import after, entries_from, read_reply

log = logging.getLogger("crocevia.hub")

QUEUE_LIMIT = 5000
# How far back a socket may resume (and how long the stream keeps events: the router
# trims it to this window); older, or "0-0", is told to resync over REST.
RESUME_WINDOW_S = float(os.environ.get("CROCEVIA_RESUME_WINDOW_S", str(24 * 3600)))
SEEN_LIMIT = 2048
RECENT_LIMIT = int(os.environ.get("CROCEVIA_HUB_RECENT", "5000"))


def parse_id(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def valid_id(stream_id: str) -> bool:
    try:
        parse_id(stream_id)
    except ValueError:
        return False
    return True


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StreamEvent:
    """One entry of the events stream: routing fields in the clear, the payload opaque.

    Fan-out decides with `route` alone; the payload is parsed only if someone asks for
    `data`, and the frame is assembled around the payload's JSON without re-encoding it.
    """

    __slots__ = ("id", "sid", "eid", "event", "route", "data_json", "_data", "_frame")

    def __init__(self, id: str, eid: int, event: str, route: dict[str, str], data_json: str):
        self.id = id
        self.sid = parse_id(id)
        self.eid = eid
        self.event = event
        self.route = route
        self.data_json = data_json
        self._data: dict[str, Any] | None = None
        self._frame: str | None = None

    @classmethod
    def from_entry(cls, entry_id: Any, fields: dict[Any, Any]) -> StreamEvent:
        f = {_s(k): _s(v) for k, v in fields.items()}
        route = dict(zip(ROUTE_FIELDS, f.get("r", "").split("|"), strict=False))
        return cls(_s(entry_id), int(f["eid"]), f["event"], route, f["data"])

    def int_route(self, name: str) -> int | None:
        value = self.route.get(name, "")
        return int(value) if value else None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = json_codec.loads(self.data_json)
        return self._data

    @property
    def frame(self) -> str:
        if self._frame is None:
            head = json_codec.dumps(
                {"type": "event", "id": self.id, "eid": self.eid, "event": self.event}
            )
            self._frame = f'{head[:-1]},"data":{self.data_json}}}'
        return self._frame


@dataclass(eq=False, slots=True)
class Subscriber:
    accepts: Callable[[StreamEvent], bool]
    accepts_ephemeral: Callable[[dict[str, Any]], bool]
    # A widget visitor sees only their own contact's events: the hub offers them
    # nothing else. None (agents) means every event is offered to `accepts`.
    contact_id: int | None = None
    # Frames waiting for the socket's writer, oldest first (made on the first frame).
    frames: deque[str] | None = None
    # Called when a frame is waiting (or the subscriber overflowed): starts the writer.
    on_frame: Callable[[], None] | None = None
    overflowed: bool = False
    buffering: bool = False
    buffer: list[StreamEvent] = field(default_factory=list)
    # How an event is put in words for this socket (visitors: a whitelist); default as is.
    render: Callable[[StreamEvent], str] | None = None
    # Told of control messages (a session revoked); never forwarded to the client.
    on_control: Callable[[dict[str, Any]], None] | None = None
    last_id: tuple[int, int] = (0, 0)
    # Event ids delivered lately (the relay is at least once); made on the first event.
    seen: OrderedDict[int, None] | None = None

    def offer(self, ev: StreamEvent) -> None:
        if self.buffering:
            self.buffer.append(ev)
            return
        self._deliver(ev)

    def _deliver(self, ev: StreamEvent) -> None:
        sid = ev.sid
        if sid <= self.last_id or (self.seen is not None and ev.eid in self.seen):
            return  # replayed already, or an at-least-once repeat of the relay
        self.last_id = sid
        if self.seen is None:
            self.seen = OrderedDict()
        self.seen[ev.eid] = None
        if len(self.seen) > SEEN_LIMIT:
            self.seen.popitem(last=False)
        if not self.accepts(ev):
            return
        if self.frames is not None and len(self.frames) >= QUEUE_LIMIT:
            self.overflowed = True
            if self.on_frame is not None:
                self.on_frame()
            return
        self.put_frame(ev.frame if self.render is None else self.render(ev))

    def put_frame(self, frame: str) -> None:
        if self.frames is None:
            self.frames = deque()
        self.frames.append(frame)
        if self.on_frame is not None:
            self.on_frame()


class Hub:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.subscribers: set[Subscriber] = set()  # offered every event (agents)
        self.by_contact: dict[int, set[Subscriber]] = {}  # offered their contact's (visitors)
        self._tasks: list[asyncio.Task[None]] = []
        self._position = "$"
        # Every event read since `_floor` (the position at start, then the newest event
        # let go), oldest first, with their ids for bisecting.
        self._recent: list[StreamEvent] = []
        self._recent_ids: list[tuple[int, int]] = []
        self._floor: tuple[int, int] | None = None
        self.recent_limit = RECENT_LIMIT
        self._purges: bytes | str | None = None  # the erasure count the kept events are as of
        self._reads = 0  # XREADs issued; one in flight at a forget may carry erased events
        self._forgot_at_read = 0
        self._stopping = False

    async def start(self) -> None:
        self._purges = await self.redis.get(PURGES_KEY)
        self._position = await self.tip() or "0-0"
        self._floor = parse_id(self._position)
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="hub-stream"),
            asyncio.create_task(self._ephemeral_loop(), name="hub-ephemeral"),
        ]

    async def stop(self) -> None:
        # A cancel that lands inside a Redis read can come out of redis-py as a connection
        # error, which the loops would take for a blip and retry: they also check this.
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def tip(self) -> str | None:
        """The id of the newest event in the stream (the `last_event_id` of a REST read)."""
        newest = await self.redis.xrevrange(EVENTS_STREAM, "+", "-", count=1)
        return _s(newest[0][0]) if newest else None

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
            for entry_id, fields in read_reply(batch):
                self._position = entry_id
                try:
                    ev = StreamEvent.from_entry(entry_id, fields)
                except (KeyError, ValueError) as exc:
                    log.error("hub_bad_entry", extra={"id": entry_id, "error": str(exc)})
                    continue
                if read > self._forgot_at_read:
                    self._keep(ev)
                else:  # read before an erasure this hub has heard of: not kept
                    self._floor = ev.sid
                for sub in self._targets(ev.int_route("contact")):
                    sub.offer(ev)

    def _keep(self, ev: StreamEvent) -> None:
        self._recent.append(ev)
        self._recent_ids.append(ev.sid)
        if len(self._recent) >= 2 * self.recent_limit:  # let the older half go, at once
            cut = len(self._recent) - self.recent_limit
            self._floor = self._recent_ids[cut - 1]
            del self._recent[:cut], self._recent_ids[:cut]

    def _forget_recent(self) -> None:
        """Some events were erased from the stream: keep none of what was read so far."""
        self._recent.clear()
        self._recent_ids.clear()
        self._floor = parse_id(self._position)
        self._forgot_at_read = self._reads

    def _replay_from_memory(self, sub: Subscriber, last: tuple[int, int]) -> bool:
        """Deliver what came after `last` from the events kept, if they hold all of it."""
        if self._floor is None or last < self._floor:
            return False
        for ev in self._recent[bisect.bisect_right(self._recent_ids, last) :]:
            sub._deliver(ev)
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
        else:
            self.by_contact.setdefault(sub.contact_id, set()).add(sub)

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
        if last_id is None:
            tip = await self.tip()
            sub.last_id = parse_id(tip) if tip else (0, 0)
            self._add(sub)
            return True
        last = parse_id(last_id)
        too_old = last[0] < (time.time() - RESUME_WINDOW_S) * 1000
        if not too_old:
            # Still in the stream (its retention decides, not what this hub kept)? And
            # was anything erased since the hub kept what it holds?
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xrange(EVENTS_STREAM, "-", "+", count=1)
                pipe.get(PURGES_KEY)
                first, purges = await pipe.execute()
            if purges != self._purges:
                self._purges = purges
                self._forget_recent()
            if not first or parse_id(_s(first[0][0])) <= last:
                sub.last_id = last
                if self._replay_from_memory(sub, last):  # no await: nothing slips by
                    self._add(sub)
                    return True
        sub.buffering = True
        self._add(sub)
        try:
            oldest = await self.redis.xrange(EVENTS_STREAM, "-", "+", count=1)
            if too_old or (oldest and parse_id(_s(oldest[0][0])) > parse_id(last_id)):
                tip = await self.tip()
                sub.last_id = parse_id(tip) if tip else (0, 0)
                sub.put_frame(
                    json_codec.dumps({"type": "resync", "reason": "last_event_id expired"})
                )
                return False
            sub.last_id = parse_id(last_id)
            start = last_id
            while True:
                # "(" (exclusive start) needs Redis 6.2 or newer.
                entries = await entries_from(self.redis, EVENTS_STREAM, after(start), 1000)
                for entry_id, fields in entries:
                    sub._deliver(StreamEvent.from_entry(entry_id, fields))
                if len(entries) < 1000:
                    break
                start = entries[-1][0]
            return True
        finally:
            buffered, sub.buffer, sub.buffering = sub.buffer, [], False
            for ev in buffered:
                sub._deliver(ev)

    def move(self, sub: Subscriber, contact_id: int) -> None:
        """A visitor socket's contact was made (their first message): offer it that
        contact's events from now on. Call it before the message is stored, so that none
        of its events can pass the socket by."""
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
