"""Every webhook delivered twice, out of order, to different gateways: stored once."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Services, World
from loadgen import load_on, start_gateway
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.embedded_redis import free_port
from inbox.model import Message

pytestmark = pytest.mark.timeout(150)


async def test_webhooks_delivered_twice_and_out_of_order_are_stored_once(
    services: Services, world: World, db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    port = free_port()
    other = await start_gateway(services, port)
    try:
        async with load_on(services, world, db, tmp_path, [services.port, port]) as load:
            assert load.telegram is not None
            await load.open(visitors=8)
            visitors = load.start(messages=8, reply_every=4)
            posts = await load.deliver_shuffled(chats=8, messages=12, copies=2)
            took = await visitors
            report = await load.report()
            print(f"\n[webhooks twice, shuffled] {posts} posts; visitors took {took:.1f} s\n"
                  f"{report}")  # fmt: skip
            report.check()
            assert report.counts["telegram"]["stored"] == 8 * 12, report
            async with db() as session:
                per_chat = (
                    await session.execute(
                        select(func.count(func.distinct(Message.conversation_id)))
                        .where(Message.inbox_id == load.telegram.inbox_id)
                    )
                ).scalar_one()  # fmt: skip
            assert per_chat == 8, f"{per_chat} conversations for 8 chats"
    finally:
        services.stop(other)
