"""One visitor's burst of messages (a reconnect flushing what was typed offline, a paste
split in lines): the socket reads the next frames while earlier ones wait for their
commit, so they share transactions, and they are still stored and acknowledged in the
order they were written."""

from __future__ import annotations

import uuid

import httpx
import pytest
from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import Message

pytestmark = pytest.mark.timeout(60)

BURST = 15  # under the 20-per-10-seconds limit of one visitor, with the first message


def batch_metric(base_url: str) -> tuple[float, float]:
    """crocevia_ingest_batch_size: (sum of batch sizes, number of batches) so far."""
    values = {}
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith(("crocevia_ingest_batch_size_sum", "crocevia_ingest_batch_size_count")):
            name, value = line.split()
            values[name] = float(value)
    return (
        values.get("crocevia_ingest_batch_size_sum", 0.0),
        values.get("crocevia_ingest_batch_size_count", 0.0),
    )


async def test_a_burst_from_one_socket_shares_commits_and_keeps_its_order(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    first = await visitor.say("prima riga")  # the contact is made by the first message
    assert first["type"] == "ack"

    before = batch_metric(services.base_url)
    cids = [str(uuid.uuid4()) for _ in range(BURST)]
    for n, cid in enumerate(cids):  # all sent before any ack is read
        await visitor.send({"type": "message", "client_id": cid, "text": f"riga {n}"})
    acks = []
    while len(acks) < BURST:
        frame = await visitor.recv()
        if frame["type"] in ("ack", "error"):
            acks.append(frame)
    after = batch_metric(services.base_url)

    assert [f["type"] for f in acks] == ["ack"] * BURST
    assert [f["client_id"] for f in acks] == cids  # acknowledged in the order written
    ids = [f["message"]["id"] for f in acks]
    assert ids == sorted(ids)  # and stored in that order
    async with db() as session:
        rows = (
            await session.execute(
                select(Message.client_id, Message.text)
                .where(Message.client_id.in_(cids))
                .order_by(Message.id)
            )
        ).all()
    assert [r.client_id for r in rows] == cids
    assert [r.text for r in rows] == [f"riga {n}" for n in range(BURST)]

    messages, batches = after[0] - before[0], after[1] - before[1]
    assert messages == BURST
    # One message per transaction, one after the other, was the old way (mean 1.0).
    assert batches < BURST / 1.5, f"{BURST} messages took {batches:.0f} transactions"
