"""The gateway's warm-up (gateway/warmup.py) runs the intake's transaction once at start
and leaves nothing behind: no inbox, contact, conversation, message or event."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.warmup import warm_up
from inbox.model import Contact, Conversation, Identity, Inbox, Message, Outbox
from inbox.writes import writes_for

TABLES = (Inbox, Contact, Identity, Conversation, Message, Outbox)


async def counts(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with db() as session:
        return {
            model.__name__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in TABLES
        }


async def test_the_warm_up_stores_nothing(
    database_url: str, db: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    writes = writes_for(database_url, db)
    before = await counts(db)
    try:
        with caplog.at_level(logging.WARNING, logger="crocevia.warmup"):
            await warm_up(writes, None)
            await warm_up(writes, None)  # a restart warms up again: still nothing
    finally:
        await writes.close()
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert await counts(db) == before
