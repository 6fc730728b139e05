"""A worker killed while holding a reply: another worker sends it, exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess

import pytest
from conftest import Services, World
from crocevia_clients import Clients
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.events import EVENTS_STREAM, OUTBOUND_GROUP, OUTBOUND_STREAM
from inbox.model import Message

pytestmark = pytest.mark.timeout(90)


async def wait_until(check, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def sqlite_write_lock_free(database_url: str) -> bool:
    """Whether a write transaction could begin now (always, on PostgreSQL)."""
    if not database_url.startswith("sqlite"):
        return True
    conn = sqlite3.connect(make_url(database_url).database or "", timeout=0.2)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.rollback()
        return True
    except sqlite3.OperationalError:  # "database is locked"
        return False
    finally:
        conn.close()


async def freeze_between_writes(proc: subprocess.Popen[bytes], database_url: str) -> None:
    for _ in range(100):
        proc.send_signal(signal.SIGSTOP)
        if await asyncio.to_thread(sqlite_write_lock_free, database_url):
            return
        proc.send_signal(signal.SIGCONT)  # caught inside a write: let it finish, try again
        await asyncio.sleep(0.05)
    raise AssertionError("the worker never let go of the database's write lock")


async def test_reply_held_by_a_killed_worker_is_sent_once_by_another(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    redis = Redis.from_url(services.redis_url)
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    conv_id = (await visitor.say("Ciao, avete la taglia M?"))["message"]["conversation_id"]
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect()

    # Only one worker, "doomed", runs; it blocks reading the group.
    for proc in list(services.workers):
        services.stop(proc)
    doomed = services.start_worker()

    async def doomed_is_reading() -> bool:
        # (Redis 7 creates a consumer only once it is handed an entry, so the consumer list
        # says nothing here; the blocked XREADGROUP connection does.)
        clients_list = await redis.client_list()
        return any(c.get("cmd") == "xreadgroup" for c in clients_list)

    await wait_until(doomed_is_reading)
    try:
        # Frozen mid-read: Redis still hands it the job. Not in the middle of one of its
        # router's write transactions, though: a frozen holder of SQLite's write lock
        # would stop the gateway's writes (the agent's reply) for as long as it is frozen.
        await freeze_between_writes(doomed, services.database_url)

        ack = await agent.reply(conv_id, "Sì, la M è disponibile.")
        message_id = ack["message"]["id"]

        async def job_is_held() -> bool:
            pending = await redis.xpending(OUTBOUND_STREAM, OUTBOUND_GROUP)
            return int(pending["pending"]) >= 1

        await wait_until(job_is_held)
    finally:  # whatever happened, no frozen process is left holding anything
        services.stop(doomed, signal.SIGKILL)

    rescuer = services.start_worker()
    sent = await agent.wait_for(
        lambda f: (
            f.get("type") == "event"
            and f["event"] == "message.updated"
            and f["data"]["message"]["id"] == message_id
            and f["data"]["message"]["status"] == "sent"
        ),
        timeout=20,
    )
    assert sent["data"]["message"]["text"] == "Sì, la M è disponibile."

    async def nothing_pending() -> bool:
        return int((await redis.xpending(OUTBOUND_STREAM, OUTBOUND_GROUP))["pending"]) == 0

    await wait_until(nothing_pending)
    entries = await redis.xrange(EVENTS_STREAM, "-", "+")
    sent_events = [
        e for _id, e in entries
        if e[b"event"] == b"message.updated"
        and json.loads(e[b"data"])["message"]["id"] == message_id
        and json.loads(e[b"data"])["message"]["status"] == "sent"
    ]  # fmt: skip
    assert len(sent_events) == 1
    async with db() as session:
        row = await session.get_one(Message, message_id)
        assert (row.status, row.attempts, row.external_id) == ("sent", 1, f"web:{message_id}")
    assert rescuer.poll() is None
    await redis.aclose()
