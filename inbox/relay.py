"""The outbox relay: committed events go to their Redis stream, at least once.

The process that committed a change publishes its rows at once (low latency);
a sweeper in every process republishes rows still unpublished after a grace
period (a crash between commit and XADD, or Redis down), one process at a time. Every
entry carries its outbox id (`eid`), so a repeat is recognisable and dropped by readers.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from inbox import background, json_codec
from inbox.events import STREAM_KEYS, OutboxRow, contact_channel, contact_of, routing
from inbox.model import Outbox, utcnow
from inbox.redis_scripts import Script
from inbox.stream_read import after, entries_from, text_of

log = logging.getLogger("crocevia.relay")

STREAM_MAXLEN = 100_000
SWEEP_GRACE = timedelta(seconds=3)
CLOCK_MARGIN_MS = 5_000  # stream ids come from Redis's clock, created_at from ours
SCAN_LIMIT = 50_000  # entries looked at per sweep; past it, republish (at least once)
KEEP_PUBLISHED = timedelta(hours=6)
# Held by the process sweeping: two that found the same unpublished rows at the same
# moment would both publish them (each event twice in the stream).
SWEEP_LOCK = "crocevia:relay:sweeping"
SWEEP_LOCK_MS = 5_000  # a dead holder stops the sweeps this long at most
_RELEASE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")


def entry_values(row: OutboxRow) -> list[str | bytes]:
    """A row's stream entry: its outbox id, event name, payload (JSON) and, for events,
    the routing field (inbox/events.py); the script names the fields."""
    values: list[str | bytes] = [str(row.id), row.event, json_codec.dumps_bytes(row.payload)]
    if row.stream == "events":
        values.append(routing(row.payload))
    return values


def channel_of(row: OutboxRow) -> str:
    """Where an event is published besides its stream: its contact's channel ("" none)."""
    if row.stream != "events":
        return ""
    contact = contact_of(row.payload)
    return "" if contact is None else contact_channel(contact)


# KEYS[1]: the stream. ARGV[1]: its approximate MAXLEN, then per entry a count n, n
# values (eid, event, data and, for events, r) and a channel. Returns the new entries'
# ids, in order. An entry with a channel is published there too, as its id, eid, event,
# r and data, one per line (gateway/stream_event.py reads it), right after its XADD:
# a subscriber sees the channel's messages in the stream's order.
# One command for a batch's rows: redis-py costs more per command than Redis does.
_XADD_MANY = Script("""
local names = {'eid', 'event', 'data', 'r'}
local ids = {}
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local fields = {}
  for j = 1, n do
    fields[#fields + 1] = names[j]
    fields[#fields + 1] = ARGV[i + j]
  end
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
  ids[#ids + 1] = id
  local channel = ARGV[i + n + 1]
  if channel ~= '' then
    redis.call('PUBLISH', channel, table.concat(
      {id, ARGV[i + 1], ARGV[i + 2], ARGV[i + 4], ARGV[i + 3]}, '\\n'))
  end
  i = i + n + 2
end
return ids
""")


# Built once and run on the connection (Core): the ORM's bulk update machinery cost
# more than the statement.
_MARK = (
    update(Outbox)
    .where(Outbox.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("at"))
)


class Relay:
    def __init__(
        self,
        redis: Redis,
        sessions: async_sessionmaker[AsyncSession],
        *,
        maxlen: int = STREAM_MAXLEN,
    ) -> None:
        self.redis = redis
        self.sessions = sessions
        self.maxlen = maxlen
        self._to_mark: list[int] = []

    async def publish(self, rows: Sequence[OutboxRow]) -> list[str]:
        """XADD committed rows in order; returns their stream ids. Marking them
        published happens later: in the next ingest transaction (`mark_in`), or in
        the periodic `mark_published`, so it costs no write transaction of its own."""
        if not rows:
            return []
        by_stream: dict[str, list[int]] = {}
        for n, row in enumerate(rows):
            by_stream.setdefault(row.stream, []).append(n)
        ids: list[str] = [""] * len(rows)
        for stream, positions in by_stream.items():
            args: list[str | bytes | int] = [self.maxlen]
            for n in positions:
                values = entry_values(rows[n])
                args += [len(values), *values, channel_of(rows[n])]
            entry_ids = await _XADD_MANY.run(self.redis, [STREAM_KEYS[stream]], args)
            for n, entry_id in zip(positions, entry_ids, strict=True):
                ids[n] = text_of(entry_id)
        self._to_mark.extend(row.id for row in rows)
        return ids

    async def publish_quietly(self, rows: Sequence[OutboxRow]) -> None:
        """Publish, leaving failures to the sweeper (the rows are committed)."""
        try:
            await self.publish(rows)
        except RedisError as exc:
            log.warning("relay_publish_deferred", extra={"rows": len(rows), "error": str(exc)})

    def take_marks(self, least: int = 1) -> list[int]:
        """The rows published and not marked yet, to mark; none when fewer than `least`
        (they wait for a later transaction, or the periodic `mark_published`)."""
        if len(self._to_mark) < least:
            return []
        ids, self._to_mark = self._to_mark, []
        return ids

    def give_back(self, ids: list[int]) -> None:
        self._to_mark.extend(ids)

    @staticmethod
    async def mark_in(session: AsyncSession, ids: list[int]) -> None:
        """Mark rows published inside the caller's transaction."""
        if ids:
            await (await session.connection()).execute(_MARK, {"ids": ids, "at": utcnow()})

    @staticmethod
    def mark_in_sync(session: Session, ids: list[int]) -> None:
        """`mark_in` in a synchronous session (the intake's transaction, inbox/writes.py)."""
        if ids:
            session.connection().execute(_MARK, {"ids": ids, "at": utcnow()})

    async def mark_published(self) -> None:
        ids = self.take_marks()
        if not ids:
            return
        try:
            async with self.sessions() as session, session.begin():
                await self.mark_in(session, ids)
        except SQLAlchemyError as exc:
            self._to_mark.extend(ids)  # try again; republishing is harmless
            log.warning("relay_mark_failed", extra={"rows": len(ids), "error": str(exc)})

    async def sweep_once(self, limit: int = 500) -> int:
        """Republish rows that nobody published within the grace period."""
        cutoff = utcnow() - SWEEP_GRACE
        async with self.sessions() as session:
            rows = list(
                (
                    await session.execute(
                        select(Outbox)
                        .where(Outbox.published_at.is_(None))
                        .where(Outbox.created_at < cutoff)
                        .order_by(Outbox.id)
                        .limit(limit)
                    )
                ).scalars()
            )
        if rows:
            there = await self._in_stream(rows)
            self._to_mark.extend(row.id for row in rows if row.id in there)
            await self.publish([row for row in rows if row.id not in there])
            log.info("relay_swept", extra={"rows": len(rows), "found_published": len(there)})
        return len(rows)

    async def _sweep_alone(self) -> None:
        """`sweep_once`, unless another process is sweeping right now."""
        token = uuid.uuid4().hex
        if not await self.redis.set(SWEEP_LOCK, token, nx=True, px=SWEEP_LOCK_MS):
            return
        try:
            await self.sweep_once()
        finally:
            await _RELEASE.run(self.redis, [SWEEP_LOCK], [token])

    async def _in_stream(self, rows: Sequence[Outbox]) -> set[int]:
        """The ids of `rows` already in their stream (published, but never marked)."""
        found: set[int] = set()
        for stream in {row.stream for row in rows}:
            group = [row for row in rows if row.stream == stream]
            wanted = {str(row.id) for row in group}
            oldest = min(row.created_at for row in group)
            start = f"{max(int(oldest.timestamp() * 1000) - CLOCK_MARGIN_MS, 0)}-0"
            scanned = 0
            while scanned < SCAN_LIMIT:
                entries = await entries_from(self.redis, STREAM_KEYS[stream], start, 1000)
                for _entry_id, fields in entries:
                    eid = text_of(fields.get(b"eid", fields.get("eid", b"")))
                    if eid in wanted:
                        found.add(int(eid))
                if len(entries) < 1000 or len(found) == len(wanted):
                    break
                scanned += len(entries)
                start = after(entries[-1][0])
        return found

    async def prune(self) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(Outbox)
                .where(Outbox.published_at.is_not(None))
                .where(Outbox.published_at < utcnow() - KEEP_PUBLISHED)
            )

    async def backlog(self) -> int:
        async with self.sessions() as session:
            return int(
                (
                    await session.execute(
                        select(func.count())
                        .select_from(Outbox)
                        .where(Outbox.published_at.is_(None))
                    )
                ).scalar_one()
            )

    @asynccontextmanager
    async def running(self, interval: float = 1.0) -> AsyncIterator[Relay]:
        """`run` in the background for the length of the block; at its end the loop
        stops and the rows still to mark are marked. Every process that commits events
        (gateway, worker, pollers, email) holds one of these."""
        try:
            async with background.running(lambda stop: self.run(stop, interval), "relay"):
                yield self
        finally:
            await self.mark_published()

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Every `interval` seconds until `stop`: mark what no transaction marked, sweep;
        prune hourly."""
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + 60
        while not await background.pause(stop, interval):
            await self.mark_published()
            now = loop.time()
            try:
                await self._sweep_alone()
                if now >= next_prune:
                    next_prune = now + 600
                    await self.prune()
            except (SQLAlchemyError, RedisError, OSError) as exc:
                log.warning("relay_sweep_failed", extra={"error": str(exc)})
