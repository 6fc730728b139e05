"""Three gateways and two workers on one database and one Redis: an agent on one
gateway sees what visitors send through the others, and killing a gateway moves its
clients to the other two with nothing lost, nothing doubled.

The same again on a Redis Cluster of three nodes (tests/redis_cluster.py), which the
processes reach through `redis+cluster://` (inbox/redis_client.py): the streams, the
consumer group, the pub/sub channel and the rate-limit windows land on different nodes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Services, World, make_world
from crocevia_clients import AgentClient, VisitorClient, login
from loadgen import load_on, start_gateway
from redis_cluster import LocalCluster
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.embedded_redis import free_port
from inbox.db import create_engine, sessionmaker
from inbox.migrate import upgrade

pytestmark = pytest.mark.timeout(150)


async def test_three_gateways_two_workers(
    services: Services, world: World, db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await three_gateways(services, world, db, tmp_path, "one Redis")


@pytest.fixture
def on_a_cluster(data_dir: Path, tmp_path: Path) -> Iterator[Services]:
    """A gateway and a worker on a Redis Cluster and a database of their own (SQLite: the
    point is Redis; the session's processes, on the session's Redis, never see them)."""
    cluster = LocalCluster(tmp_path / "cluster").start()
    database_url = f"sqlite:///{tmp_path / 'cluster.sqlite3'}"
    upgrade(database_url)
    svc = Services(database_url, cluster.url, data_dir)
    try:
        svc.start_gateway()
        svc.start_worker()
        yield svc
    finally:
        svc.stop_all()
        cluster.stop()


async def test_three_gateways_two_workers_on_a_redis_cluster(
    on_a_cluster: Services, tmp_path: Path
) -> None:
    engine = create_engine(on_a_cluster.database_url)
    db = sessionmaker(engine)
    try:
        world = await make_world(db)
        await three_gateways(on_a_cluster, world, db, tmp_path, "a 3-node Redis Cluster")
    finally:
        await engine.dispose()


async def three_gateways(
    services: Services, world: World, db: async_sessionmaker[AsyncSession], tmp_path: Path,
    redis: str,
) -> None:  # fmt: skip
    b_port, c_port = free_port(), free_port()
    b = await start_gateway(services, b_port)
    c = await start_gateway(services, c_port)
    second_worker = services.start_worker()
    _id, email, password = world.agents["anna"]
    agent = AgentClient(services.base_url, services.ws_url,
                        await login(services.base_url, email, password))  # fmt: skip
    try:
        await agent.connect()  # on gateway A
        # A visitor on B reaches the agent on A, and the agent's reply reaches the visitor.
        b_http, b_ws = f"http://127.0.0.1:{b_port}", f"ws://127.0.0.1:{b_port}"
        visitor = await VisitorClient.start(b_http, b_ws, world.website_token)
        await visitor.connect()
        await visitor.send({"type": "message", "client_id": "b-1",
                            "text": "scrivo attraverso il gateway B"})  # fmt: skip
        ack = await visitor.wait_for(lambda f: f.get("client_id") == "b-1", timeout=60)
        assert ack["type"] == "ack", ack
        got = await agent.wait_for(
            lambda f: (
                f.get("event") == "message.created"
                and f["data"]["message"]["id"] == ack["message"]["id"]
            )
        )
        assert got["data"]["message"]["text"] == "scrivo attraverso il gateway B"
        reply = await agent.reply(ack["message"]["conversation_id"], "rispondo da A")
        await visitor.wait_for(
            lambda f: (
                f.get("event") == "message.updated"
                and f["data"]["message"]["id"] == reply["message"]["id"]
            )
        )
        await visitor.aclose()

        # Load through all three; C dies half-way; its clients move to A and B.
        async with load_on(services, world, db, tmp_path,
                           [services.port, b_port, c_port]) as load:  # fmt: skip
            frames: list[dict[str, object]] = []

            async def collect() -> None:  # read all along: a stalled reader misses pings
                while True:
                    with contextlib.suppress(TimeoutError):
                        frames.append(await agent.recv(timeout=1.0))

            collector = asyncio.create_task(collect())
            await load.open(visitors=24)
            run = load.start(messages=10, chats=4, chat_messages=8)
            await load.progress(0.4)
            on_c = sum(v.port == c_port for v in load.visitors)
            services.stop(c, signal.SIGKILL)
            took = await run
            report = await load.report()
            # The agent on A received every message, whichever gateway took it.
            await asyncio.sleep(1.0)
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)
            seen = {
                f["data"]["message"]["id"]  # type: ignore[index]
                for f in frames
                if f.get("type") == "event" and f.get("event") == "message.created"
            }
            acked = {mid for v in load.visitors for mid in v.acked.values()}
            print(f"\n[scale-out: 3 gateways, 2 workers, {redis}, C killed] load took {took:.1f} s, "
                  f"{on_c} visitors were on C; the agent on A saw "
                  f"{len(acked & seen)}/{len(acked)} visitor messages\n{report}")  # fmt: skip
            report.check()
            assert on_c > 0 and acked <= seen, json.dumps(sorted(acked - seen))
    finally:
        await agent.aclose()
        services.stop(c, signal.SIGKILL)
        services.stop(b)
        services.stop(second_worker)
