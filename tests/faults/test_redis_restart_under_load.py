"""Redis restarts (empty) under load: nothing the database committed is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import Services, World
from loadgen import load_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.embedded_redis import EmbeddedRedis

pytestmark = pytest.mark.timeout(150)


async def test_a_redis_restart_under_load_loses_nothing(
    services: Services, world: World, db: async_sessionmaker[AsyncSession], tmp_path: Path,
    redis_server: EmbeddedRedis,
) -> None:  # fmt: skip
    async with load_on(services, world, db, tmp_path, [services.port]) as load:
        await load.open(visitors=16)
        run = load.start(messages=10, chats=4, chat_messages=8)
        await load.progress(0.3)
        await asyncio.to_thread(redis_server.stop)  # same port, and it comes back empty
        try:
            await asyncio.sleep(2)
        finally:
            await asyncio.to_thread(redis_server.start)
        took = await run
        report = await load.report(settle=60)
        print(f"\n[Redis restart] load took {took:.1f} s\n{report}")
        report.check()
