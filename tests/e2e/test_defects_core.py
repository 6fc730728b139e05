"""Defects found from outside (issue 11), each replayed through the real gateway, worker,
Redis and database: a reply reaches the visitor at once, one bad message never fails its
neighbours, the first sentiment-bearing message does not stall the gateway, and a newer
presence beats an old heartbeat."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Services, World
from crocevia_clients import AgentClient, Clients, VisitorClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.embedded_redis import free_port
from gateway.presence import SEEN_KEY
from inbox.model import Message, Outbox, Team
from inbox.relay import SWEEP_GRACE

pytestmark = pytest.mark.timeout(90)


def is_event(name: str, **match: object):  # type: ignore[no-untyped-def]
    def pred(frame: dict) -> bool:  # type: ignore[type-arg]
        if frame.get("type") != "event" or frame.get("event") != name:
            return False
        msg = frame["data"].get("message") or {}
        return all(msg.get(k) == v for k, v in match.items())

    return pred


def stream_time(stream_id: str) -> datetime:
    """When Redis appended a stream entry (its id is milliseconds since the epoch)."""
    return datetime.fromtimestamp(int(stream_id.split("-")[0]) / 1000, UTC)


async def test_a_sent_reply_is_published_by_its_worker_not_by_the_relay_sweep(
    clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    await agent.connect()
    visitor = await clients.visitor(world.website_token, name="Giulia")
    await visitor.connect()
    ack = await visitor.say("Buongiorno, avete la taglia 42?")
    created = await agent.wait_for(is_event("message.created", id=ack["message"]["id"]))
    reply = await agent.reply(created["data"]["conversation"]["id"], "Sì, certo.")
    reply_id = reply["message"]["id"]

    seen = await visitor.wait_for(is_event("message.updated", id=reply_id, status="sent"))
    async with db() as session:
        row = await session.get_one(Outbox, int(seen["eid"]))
    # The worker publishes the status it committed at once; only a crash after the
    # commit leaves it to the relay's sweep, which waits SWEEP_GRACE first.
    late = stream_time(seen["id"]) - row.created_at
    assert late < SWEEP_GRACE, f"the 'sent' event went out {late} after its commit"


async def test_a_message_no_database_can_store_is_refused_to_its_sender_alone(
    clients: Clients, world: World
) -> None:
    visitors = [await clients.visitor(world.website_token, name=f"V{n}") for n in range(30)]
    for v in visitors:
        await v.connect()
    bad = {3: "ordine \x00 1234", 17: "ordine \ud800 1234"}  # NUL; a lone surrogate
    answers = await asyncio.gather(
        *(v.say(bad.get(n, f"Salve, sono il visitatore {n}")) for n, v in enumerate(visitors))
    )
    for n, answer in enumerate(answers):
        if n in bad:
            assert answer["type"] == "error" and answer["code"] == "invalid_frame", answer
            assert '"text" contains' in answer["message"]
        else:
            assert answer["type"] == "ack", (n, answer)
    # The refused visitors' sockets stay open and usable.
    for n in bad:
        again = await visitors[n].say("ordine 1234, scusate")
        assert again["type"] == "ack" and again["message"]["text"] == "ordine 1234, scusate"
    cid = "id-\x00"
    refused = await visitors[3].say("ciao", client_id=cid)
    assert refused["type"] == "error" and '"client_id" contains a NUL' in refused["message"]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux /proc): unlike wall time, it
    does not grow when other processes load the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
async def test_a_fresh_gateway_scores_its_first_sentiment_bearing_message_without_loading_models(
    services: Services, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    port = free_port()
    gateway = services.start_gateway(port)  # returns once /readyz says ready
    try:
        session = (await VisitorClient.start(services.base_url, services.ws_url,
                                             world.website_token)).session  # fmt: skip
        visitor = VisitorClient(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", session)
        await visitor.connect()
        # Opens the conversation and warms the database paths: two words, no model needed.
        assert (await visitor.say("Buongiorno, grazie!"))["type"] == "ack"

        async def cpu_to_store(text: str) -> float:
            before = cpu_seconds(gateway.pid)
            ack = await visitor.say(text)
            assert ack["type"] == "ack", ack
            spent = cpu_seconds(gateway.pid) - before
            async with db() as session:  # visitors never see the score; it is stored
                stored = await session.get_one(Message, ack["message"]["id"])
            assert stored.sentiment_label is not None
            return spent

        first = await cpu_to_store("Il servizio è pessimo e sono molto arrabbiato con voi")
        later = await cpu_to_store("Il pacco è arrivato rotto e sono davvero deluso")
        # Loading the language model on the first message costs about half a second of CPU.
        assert first - later < 0.25, (
            f"first message {first:.2f} s of CPU, a later one {later:.2f} s"
        )
        await visitor.aclose()
    finally:
        services.stop(gateway)


async def presence_of(agent: AgentClient) -> str:
    r = await agent.http.get("/api/me")
    r.raise_for_status()
    return str(r.json()["presence"])


async def test_a_second_login_stays_online_and_gets_the_waiting_customers(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session, session.begin():
        (await session.get_one(Team, world.team_id)).routing_policy = "round_robin"
    anna_id, email, password = world.agents["anna"]
    first = await clients.agent(email, password)
    # Anna's console last beat an hour ago (closed, laptop gone): the router takes her
    # offline.
    redis = Redis.from_url(services.redis_url)
    try:
        await redis.zadd(SEEN_KEY, {str(anna_id): time.time() - 3600})
    finally:
        await redis.aclose()
    await until(lambda: presence_of(first), "offline")

    visitor = await clients.visitor(world.website_token, name="Paola")
    await visitor.connect()
    ack = await visitor.say("Buongiorno, c'è qualcuno?")
    conv_id = ack["message"]["conversation_id"]

    # She logs in again; the console says she is online and opens its socket a moment
    # later (it replays what it missed first).
    second = await clients.agent(email, password)
    r = await second.http.patch("/api/me", json={"presence": "online"})
    assert r.status_code == 200 and r.json()["presence"] == "online"
    await asyncio.sleep(2.0)  # four router passes
    assert await presence_of(second) == "online", "the old heartbeat took her offline again"

    await second.connect()
    assigned = await second.wait_for(
        lambda f: (
            f.get("event") == "conversation.updated"
            and f["data"]["conversation"]["id"] == conv_id
            and f["data"]["conversation"]["assignee_id"] == anna_id
        ),
        timeout=15,
    )
    assert assigned["data"]["conversation"]["status"] == "open"
    await asyncio.sleep(4.0)  # where the old heartbeat used to win
    assert await presence_of(second) == "online"


async def until(get, wanted: object, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while (got := await get()) != wanted:
        assert time.monotonic() < deadline, f"still {got!r}, expected {wanted!r}"
        await asyncio.sleep(0.1)
