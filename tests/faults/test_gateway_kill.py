"""kill -9 a gateway under load: its clients move to the others with nothing lost."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from conftest import Services, World
from loadgen import load_on, start_gateway
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.embedded_redis import free_port

pytestmark = pytest.mark.timeout(150)


async def test_a_gateway_killed_under_load_loses_nothing(
    services: Services, world: World, db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    doomed_port, spare_port = free_port(), free_port()
    doomed = await start_gateway(services, doomed_port)
    spare = None
    try:
        async with load_on(services, world, db, tmp_path, [doomed_port, services.port]) as load:
            await load.open(visitors=24)
            run = load.start(messages=12, chats=4, chat_messages=10)
            await load.progress(0.3)
            on_doomed = sum(v.port == doomed_port for v in load.visitors)
            services.stop(doomed, signal.SIGKILL)  # mid-load: sockets, requests, batches die
            spare = await start_gateway(services, spare_port)
            load.cluster.ports.append(spare_port)  # the balancer learns of a new replica
            took = await run
            report = await load.report()
            print(f"\n[kill -9 gateway] load took {took:.1f} s, {on_doomed} visitors were on it\n"
                  f"{report}")  # fmt: skip
            report.check()
            assert on_doomed > 0
            assert report.counts["events"]["reconnects"] >= on_doomed, report
    finally:
        services.stop(doomed, signal.SIGKILL)
        if spare is not None:
            services.stop(spare)
