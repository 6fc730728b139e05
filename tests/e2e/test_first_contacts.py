"""Many visitors writing their first message at once (a campaign, a reopened shop): each
gets one contact of their own, made in the transaction that stores the message, two tabs
of one visitor share theirs, and each sending socket joins the new contact before the
events of its message are published (it sees the conversation.created)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import Message

pytestmark = pytest.mark.timeout(60)

VISITORS = 24


def histogram(base_url: str, name: str) -> tuple[float, float]:
    values = {}
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith((f"{name}_sum", f"{name}_count")):
            key, value = line.split()
            values[key] = float(value)
    return values.get(f"{name}_sum", 0.0), values.get(f"{name}_count", 0.0)


async def test_first_messages_at_once_make_one_contact_each_and_their_sockets_follow(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    visitors = [await clients.visitor(world.website_token) for _ in range(VISITORS)]
    twin = clients.tab(visitors[0])  # a second tab of the first visitor
    for v in [*visitors, twin]:
        await v.connect()
    before = histogram(services.base_url, "crocevia_ingest_batch_size")

    cids = [str(uuid.uuid4()) for _ in range(VISITORS + 1)]
    sockets = [*visitors, twin]
    await asyncio.gather(*(s.send({"type": "message", "client_id": c, "text": "Buongiorno"})
                           for s, c in zip(sockets, cids, strict=True)))  # fmt: skip
    acks = await asyncio.gather(*(
        s.wait_for(lambda f, c=c: f.get("client_id") == c and f["type"] in ("ack", "error"))
        for s, c in zip(sockets, cids, strict=True)
    ))  # fmt: skip
    assert all(a["type"] == "ack" for a in acks), [a for a in acks if a["type"] != "ack"]
    # Each socket had joined its contact when its message's events came out. (Not the
    # first visitor's two tabs: the one whose message came second found the conversation
    # made, and the other may have joined after the first's events.)
    opened = await asyncio.gather(*(
        s.wait_for(lambda f, a=a: f.get("event") == "conversation.created"
                   and f["data"]["conversation"]["id"] == a["message"]["conversation_id"])
        for s, a in zip(visitors[1:], acks[1:VISITORS], strict=True)
    ))  # fmt: skip
    after = histogram(services.base_url, "crocevia_ingest_batch_size")

    async with db() as session:
        rows = await session.execute(
            select(Message.client_id, Message.author_contact_id).where(Message.client_id.in_(cids))
        )
        author = dict(rows.all())
    contacts = [author[c] for c in cids]
    assert len(set(contacts[:VISITORS])) == VISITORS  # one contact per visitor
    assert contacts[VISITORS] == contacts[0]  # the second tab wrote as the same contact
    # The ack's new token names that contact: a reconnect with it finds the conversation.
    assert all("visitor_token" in a for a in acks)
    again = clients.tab(visitors[1])
    again.token = acks[1]["visitor_token"]
    ready = await again.connect()
    assert ready["conversation_id"] == opened[0]["data"]["conversation"]["id"]

    stored, transactions = after[0] - before[0], after[1] - before[1]
    assert stored == VISITORS + 1
    assert transactions < stored, f"{stored} first messages took {transactions:.0f} transactions"
