"""PostgreSQL restarts under load: senders hear "unavailable" (or 503) and send again;
nothing acknowledged is lost, nothing is stored twice.

The restarted server is a cluster of the test's own (tests/faults/private_postgres.py)
with its own gateway, worker and Redis: the machine's PostgreSQL, and anything else using
it, never notice. It runs in the PostgreSQL run of the suite only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from conftest import Services, make_world
from crocevia_clients import login
from loadgen import load_on
from private_postgres import PrivatePostgres, postgres_bin
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway.embedded_redis import EmbeddedRedis
from inbox.db import create_engine, sessionmaker
from inbox.migrate import upgrade

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.postgres_run,
    pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL's initdb and pg_ctl"),
]


@pytest.fixture
async def private_services(tmp_path: Path) -> AsyncIterator[tuple[Services, PrivatePostgres]]:
    cluster = await asyncio.to_thread(PrivatePostgres().start)
    redis = EmbeddedRedis(tmp_path / "redis").start()
    services = Services(cluster.url, redis.url, tmp_path)
    try:
        await asyncio.to_thread(upgrade, cluster.url)
        await asyncio.to_thread(services.start_gateway)
        services.start_worker()
        yield services, cluster
    finally:
        services.stop_all()
        redis.stop()
        cluster.stop()


async def test_a_postgres_restart_under_load_loses_nothing(
    private_services: tuple[Services, PrivatePostgres], tmp_path: Path
) -> None:
    services, cluster = private_services
    engine = create_engine(cluster.url)
    db = sessionmaker(engine)
    try:
        world = await make_world(db)
        async with load_on(services, world, db, tmp_path, [services.port]) as load:
            await load.open(visitors=16)
            run = load.start(messages=10, chats=4, chat_messages=8)
            await load.progress(0.3)
            await asyncio.to_thread(cluster.restart)
            took = await run
            report = await load.report(settle=60)
            print(f"\n[PostgreSQL restart] load took {took:.1f} s\n{report}")
            report.check()
    finally:
        await engine.dispose()


async def test_a_socket_that_cannot_reach_the_database_is_told_to_try_again(
    private_services: tuple[Services, PrivatePostgres],
) -> None:
    """Seen in a reconnect storm: 500 sockets authenticating at once emptied the
    connection pool, and each socket whose check timed out was an unhandled ASGI error.
    With the database away, a socket's `auth` now closes it with 1013 (reconnect), logged
    as a warning, and the next connection after it is back works."""
    services, cluster = private_services
    engine = create_engine(cluster.url)
    try:
        world = await make_world(sessionmaker(engine))
    finally:
        await engine.dispose()
    _id, email, password = world.agents["anna"]
    token = await login(services.base_url, email, password)
    await asyncio.to_thread(cluster.halt)
    try:
        # A REST call meanwhile: 503 with Retry-After (seen in the storm: a reply's POST
        # that waited 30 s for a pooled connection was a 500).
        async with httpx.AsyncClient(base_url=services.base_url, timeout=60) as http:
            r = await http.get("/api/conversations", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503 and r.headers["retry-after"] == "2", r.text
        assert r.json()["error"]["code"] == "unavailable"
        async with connect(f"{services.ws_url}/ws/agent", open_timeout=30) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 60)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    finally:
        await asyncio.to_thread(cluster.resume)
    ready: dict[str, object] = {}
    for _ in range(30):  # the pool drops its dead connections as they are tried
        async with connect(f"{services.ws_url}/ws/agent") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            try:
                ready = json.loads(await asyncio.wait_for(ws.recv(), 30))
            except ConnectionClosed:
                await asyncio.sleep(0.5)
                continue
        break
    assert ready.get("type") == "ready", ready
    logged = "".join(p.read_text() for p in services.data_dir.glob("serve-*.log"))
    assert "socket_auth_unavailable" in logged and "request_backend_unavailable" in logged
    errors = [line for line in logged.splitlines() if '"level": "error"' in line]
    assert not errors, errors[:3]
