"""The event webhook dispatcher on a database of its own (no worker process shares it):
which events are queued for whom, giving up after the last try, sending again, the
address rule, and erasure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from http_receiver import receiving
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.event_webhooks import MAX_TRIES, EventWebhooks
from inbox import events, privacy, webhook_queue
from inbox.db import create_engine, sessionmaker
from inbox.migrate import upgrade
from inbox.model import Contact, WebhookDelivery, WebhookSubscription, utcnow

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def own_db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hooks.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
async def own_db(own_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(own_db_url)
    yield sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _subscribe(db: async_sessionmaker[AsyncSession], url: str, evs: list[str],
                     active: bool = True) -> int:  # fmt: skip
    async with db() as session, session.begin():
        sub = WebhookSubscription(url=url, events=evs, secret="s" * 32, active=active,
                                  created_at=utcnow(), since=utcnow())  # fmt: skip
        session.add(sub)
        await session.flush()
        return sub.id


async def _emit(db: async_sessionmaker[AsyncSession], name: str, data: dict[str, object]) -> None:
    async with db() as session, session.begin():
        events.emit(session, name, data)


async def _deliveries(db: async_sessionmaker[AsyncSession], sub_id: int) -> list[WebhookDelivery]:
    async with db() as session:
        q = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id)
        return list((await session.execute(q.order_by(WebhookDelivery.id))).scalars())


async def test_only_wanted_events_after_the_subscription_are_queued_once(
    own_db: async_sessionmaker[AsyncSession],
) -> None:
    await _emit(own_db, "message.created", {"message": {"text": "before any subscription"}})
    async with own_db() as session, session.begin():
        assert await webhook_queue.queue_new_events(session, utcnow()) == 0  # no webhook: no work
    messages = await _subscribe(own_db, "https://hooks.example.test/m", ["message.created"])
    everything = await _subscribe(own_db, "https://hooks.example.test/all", [])
    paused = await _subscribe(own_db, "https://hooks.example.test/p", [], active=False)
    await _emit(own_db, "message.created", {"message": {"text": "uno"}})
    await _emit(own_db, "conversation.updated", {"conversation": {"id": 1}})
    for _ in range(2):  # a second pass finds nothing new: nothing is queued twice
        async with own_db() as session, session.begin():
            await webhook_queue.queue_new_events(session, utcnow())
    assert [d.event for d in await _deliveries(own_db, messages)] == ["message.created"]
    assert [d.event for d in await _deliveries(own_db, everything)] == [
        "message.created", "conversation.updated"]  # fmt: skip
    assert await _deliveries(own_db, paused) == []
    body = json.loads((await _deliveries(own_db, messages))[0].body)
    assert body["event"] == "message.created" and body["data"]["message"]["text"] == "uno"


async def test_a_failing_endpoint_is_given_up_after_the_last_try_and_can_be_sent_again(
    own_db: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    hooks = EventWebhooks(own_db, redis, retry_s=0.0, allow_private=True)
    try:
        with receiving(then=503) as receiver:
            sub = await _subscribe(own_db, f"{receiver.url}/down", ["message.created"])
            await _emit(own_db, "message.created", {"message": {"text": "a"}})
            await _emit(own_db, "message.created", {"message": {"text": "b"}})
            for _ in range(2 * MAX_TRIES + 2):  # the first fails, the second waits its turn
                await hooks.tick(utcnow())
                async with own_db() as session, session.begin():  # skip the backoff wait
                    await session.execute(update(WebhookDelivery).where(
                        WebhookDelivery.status == "pending").values(next_attempt_at=utcnow()))  # fmt: skip
            got = await _deliveries(own_db, sub)
            assert [(d.status, d.attempts, d.last_status) for d in got] == [
                ("failed", MAX_TRIES, 503), ("failed", MAX_TRIES, 503)]  # fmt: skip
            # One try per pass for a failing endpoint: never more than the two deliveries'
            # tries in all, however many passes ran.
            assert len(receiver.got) == 2 * MAX_TRIES
            receiver.then = 200
            async with own_db() as session, session.begin():
                await session.execute(update(WebhookDelivery).where(
                    WebhookDelivery.id == got[0].id).values(status="pending", attempts=0,
                                                       next_attempt_at=utcnow()))  # fmt: skip
            assert await hooks.tick(utcnow()) == 1
            assert (await _deliveries(own_db, sub))[0].status == "sent"
    finally:
        await hooks.aclose()


async def test_private_addresses_are_refused_unless_allowed(
    own_db: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    hooks = EventWebhooks(own_db, redis, retry_s=60.0, allow_private=False)
    try:
        with receiving() as receiver:
            sub = await _subscribe(own_db, f"{receiver.url}/internal", [])
            await _emit(own_db, "message.created", {"message": {"text": "x"}})
            assert await hooks.tick(utcnow()) == 0
            (d,) = await _deliveries(own_db, sub)
            assert d.status == "pending" and d.attempts == 1
            assert d.last_error and "non-public" in d.last_error
            assert receiver.got == []
    finally:
        await hooks.aclose()


async def test_erasure_deletes_the_contacts_queued_events(
    own_db: async_sessionmaker[AsyncSession],
) -> None:
    async with own_db() as session, session.begin():
        contact = Contact(name="Giulia Rossi", email="giulia@example.test")
        session.add(contact)
        await session.flush()
        contact_id = contact.id
    sub = await _subscribe(own_db, "https://hooks.example.test/erp", [])
    await _emit(own_db, "conversation.updated",
                {"conversation": {"id": 9, "contact": {"id": contact_id, "name": "Giulia Rossi"}}})  # fmt: skip
    await _emit(own_db, "agent.updated", {"agent": {"id": 1}})
    async with own_db() as session, session.begin():
        await webhook_queue.queue_new_events(session, utcnow())
    assert [d.contact_id for d in await _deliveries(own_db, sub)] == [contact_id, None]
    async with own_db() as session, session.begin():
        await privacy.erase(session, contact_id, actor_agent_id=None)
    assert [d.event for d in await _deliveries(own_db, sub)] == ["agent.updated"]
