"""500 visitor sockets dropped at once reconnect at once with their last ids: every
event that happened while they were away arrives, once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from conftest import Services, World
from loadgen import load_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.timeout(180)

SOCKETS = 500
AWAY_REPLIES = 100


async def test_500_sockets_drop_and_resume_at_once(
    services: Services, world: World, db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with load_on(services, world, db, tmp_path, [services.port]) as load:
        t0 = time.monotonic()
        await load.open(visitors=SOCKETS)
        opened = time.monotonic() - t0
        await load.run(messages=1, pace=0, reply_every=0)  # a conversation each
        await load.everyone_saw_an_event()  # so that each resumes from a last id
        # Everyone drops at once and reconnects at once; meanwhile replies reach some.
        before = {v.index: v.connects for v in load.visitors}
        t1 = time.monotonic()
        await asyncio.gather(*(v.drop() for v in load.visitors))

        async def resumed() -> float:
            await load.all_reconnected(before, timeout=90)
            return time.monotonic() - t1

        storm, _ = await asyncio.gather(resumed(), asyncio.gather(*(
            load.reply(v.conversation_id or 0, f"while away {v.index}", time.monotonic() + 90)
            for v in load.visitors[:AWAY_REPLIES]
        )))  # fmt: skip
        took = await load.run(messages=1, pace=0, reply_every=0)  # the resumed sockets work
        report = await load.report(settle=60)
        print(f"\n[reconnect storm] {SOCKETS} sockets opened in {opened:.1f} s; all dropped, "
              f"all resumed in {storm:.1f} s while {AWAY_REPLIES} replies were sent to them; "
              f"then one message each in {took:.1f} s\n{report}")  # fmt: skip
        report.check()
        assert report.counts["events"]["reconnects"] >= SOCKETS, report
