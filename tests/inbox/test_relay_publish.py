"""The relay publishes a batch of committed outbox rows in one command per stream: every
row lands in its own stream, in order, with its fields, and the ids come back in the
rows' order; a server that forgot the script still gets them."""

from __future__ import annotations

import secrets

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox import json_codec
from inbox.events import EVENTS_STREAM, OUTBOUND_STREAM, routing
from inbox.model import Outbox
from inbox.relay import Relay


async def _rows(db: async_sessionmaker[AsyncSession], n: int) -> list[Outbox]:
    tag = secrets.token_hex(4)
    made = []
    for k in range(n):
        if k % 3 == 2:
            made.append(Outbox(stream="outbound", event="outbound.send",
                               payload={"message_id": k, "conversation_id": 1, "tag": tag}))  # fmt: skip
        else:
            made.append(Outbox(stream="events", event="message.created", payload={
                "message": {"id": k, "direction": "in", "text": f"ciao {k} è", "tag": tag},
                "conversation": {"id": 7, "inbox_id": 3, "team_id": None, "contact": {"id": 9}},
            }))  # fmt: skip
    async with db() as session, session.begin():
        session.add_all(made)
    return made


async def _entries(redis: Redis, stream: str, ids: list[str]) -> dict[str, dict[bytes, bytes]]:
    found: dict[str, dict[bytes, bytes]] = {}
    for entry_id in ids:
        for got_id, fields in await redis.xrange(stream, entry_id, entry_id):
            found[got_id.decode()] = fields
    return found


async def test_a_batch_goes_to_its_streams_in_order_with_its_fields(
    redis_url: str, db: async_sessionmaker[AsyncSession]
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        rows = await _rows(db, 30)
        relay = Relay(redis, db)
        ids = await relay.publish(rows)
        assert len(ids) == len(rows) and all(ids)
        for stream, name in ((EVENTS_STREAM, "events"), (OUTBOUND_STREAM, "outbound")):
            mine = [(row, i) for row, i in zip(rows, ids, strict=True) if row.stream == name]
            entry_ids = [i for _row, i in mine]
            assert entry_ids == sorted(entry_ids, key=lambda i: tuple(map(int, i.split("-"))))
            entries = await _entries(redis, stream, entry_ids)
            for row, entry_id in mine:
                fields = entries[entry_id]
                assert fields[b"eid"] == str(row.id).encode()
                assert fields[b"event"] == row.event.encode()
                assert json_codec.loads(fields[b"data"]) == row.payload
                if name == "events":
                    assert fields[b"r"].decode() == routing(row.payload)
                else:
                    assert b"r" not in fields
        assert relay.take_marks(least=len(rows) + 1) == []  # too few: they wait
        assert sorted(relay.take_marks()) == sorted(row.id for row in rows)
        assert relay.take_marks() == []
    finally:
        await redis.aclose()


async def test_a_server_that_forgot_the_script_still_gets_the_batch(
    redis_url: str, db: async_sessionmaker[AsyncSession]
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        relay = Relay(redis, db)
        await relay.publish(await _rows(db, 2))
        await redis.script_flush()  # as after a restart of Redis
        rows = await _rows(db, 4)
        ids = await relay.publish(rows)
        assert len(await _entries(redis, EVENTS_STREAM, ids[:2])) == 2
    finally:
        await redis.aclose()
