"""PostgreSQL restarts under load: senders hear "unavailable" (or 503) and send again;
nothing acknowledged is lost, nothing is stored twice. PostgreSQL runs only."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from conftest import Services, World
from loadgen import load_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(
        not os.environ.get("CROCEVIA_TEST_DATABASE_URL", "").startswith("postgres"),
        reason="restarts the PostgreSQL server: PostgreSQL runs only",
    ),
    pytest.mark.skipif(
        shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir(),
        reason="needs a local PostgreSQL cluster (pg_ctlcluster)",
    ),
]


async def restart_postgres() -> None:
    (version,) = sorted(os.listdir("/etc/postgresql"))[-1:]
    proc = await asyncio.create_subprocess_exec(
        "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()


async def test_a_postgres_restart_under_load_loses_nothing(
    services: Services, world: World, db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with load_on(services, world, db, tmp_path, [services.port]) as load:
        await load.open(visitors=16)
        run = load.start(messages=10, chats=4, chat_messages=8)
        await load.progress(0.3)
        await restart_postgres()
        took = await run
        report = await load.report(settle=60)
        print(f"\n[PostgreSQL restart] load took {took:.1f} s\n{report}")
        report.check()
