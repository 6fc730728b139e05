"""Malformed, oversized and unauthorised frames get the documented answers and lose nothing."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from inbox.model import Message

pytestmark = pytest.mark.timeout(60)


async def close_code(url: str, first: str | None) -> int:
    async with connect(url) as ws:
        if first is not None:
            await ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code


async def test_unknown_and_forged_tokens_close_with_4401(services: Services, world: World) -> None:
    for path in ("/ws/agent", "/ws/widget"):
        url = services.ws_url + path
        assert await close_code(url, json.dumps({"type": "auth", "token": "nope"})) == 4401
        assert await close_code(url, json.dumps({"type": "hello"})) == 4400
        assert await close_code(url, "{not json") == 4400
        bad_id = json.dumps({"type": "auth", "token": "x", "last_event_id": "yesterday"})
        assert await close_code(url, bad_id) == 4400
    forged = "v1.eyJpIjoxLCJ2IjoiYSIsImMiOjEsInQiOjB9.AAAA"
    assert (
        await close_code(
            services.ws_url + "/ws/widget", json.dumps({"type": "auth", "token": forged})
        )
        == 4401
    )


async def test_revoked_agent_token_is_refused(
    services: Services, world: World, clients: Clients
) -> None:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    assert (await agent.http.post("/api/auth/logout")).status_code == 200
    assert (
        await close_code(
            services.ws_url + "/ws/agent", json.dumps({"type": "auth", "token": agent.token})
        )
        == 4401
    )
    assert (await agent.http.get("/api/me")).status_code == 401


async def test_bad_frames_get_error_frames_and_the_socket_stays_open(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    await visitor.send({"type": "ping"})
    assert (await visitor.recv())["type"] == "pong"
    assert visitor.ws is not None
    await visitor.ws.send("{broken json")
    assert (await visitor.recv())["code"] == "invalid_json"
    await visitor.ws.send("[1, 2]")
    assert (await visitor.recv())["code"] == "invalid_frame"
    await visitor.send({"type": "dance"})
    assert (await visitor.recv())["code"] == "invalid_frame"
    cid = str(uuid.uuid4())
    too_long = await visitor.say("x" * 10_001, client_id=cid)
    assert (
        too_long["type"] == "error"
        and too_long["code"] == "too_long"
        and too_long["client_id"] == cid
    )
    missing = await visitor.say("   ")
    assert missing["code"] == "invalid_frame"
    # Still open, and nothing half-written for the refused ones.
    ok = await visitor.say("still here")
    assert ok["type"] == "ack"
    async with db() as session:
        texts = (
            (
                await session.execute(
                    select(Message.text).where(
                        Message.conversation_id == ok["message"]["conversation_id"]
                    )
                )
            )
            .scalars()
            .all()
        )
    assert texts == ["still here"]

    # An agent cannot write into a conversation of a team it is not in.
    from conftest import make_world

    other = await make_world(db, agents=("bruno",))
    _id, email, password = other.agents["bruno"]
    outsider = await clients.agent(email, password)
    await outsider.connect()
    refused = await outsider.reply(ok["message"]["conversation_id"], "hello from another team")
    assert refused["code"] == "not_found"
    async with db() as session:
        n = (await session.execute(select(func.count()).select_from(Message).where(
            Message.conversation_id == ok["message"]["conversation_id"]))).scalar_one()  # fmt: skip
    assert n == 1


async def test_frame_over_64_kib_closes_with_1009(
    services: Services, world: World, clients: Clients
) -> None:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    assert visitor.ws is not None
    await visitor.ws.send(json.dumps({"type": "message", "client_id": "big", "text": "y" * 70_000}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await visitor.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_http_api_errors_are_clear(services: Services, world: World) -> None:
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post("/api/widget/sessions", content=b"{oops")
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
        r = await http.post("/api/widget/sessions", json={"website_token": "unknown"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_website"
        r = await http.post("/api/widget/sessions", json={"website_token": 12})
        assert r.status_code == 400 and "must be a string" in r.json()["error"]["message"]
        r = await http.get("/api/conversations")
        assert r.status_code == 401
        r = await http.post("/api/auth/login", content=b"x" * 300_000)
        assert r.status_code == 413


async def test_webhooks_for_unknown_channels_or_inboxes_are_refused_clearly(
    services: Services, world: World
) -> None:
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post(f"/webhooks/carrier-pigeon/{world.inbox_id}", json={})
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_channel"
        r = await http.post("/webhooks/telegram/not-a-number", json={})
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_inbox"
        r = await http.get(f"/webhooks/meta/{world.inbox_id}", params={"hub.mode": "subscribe"})
        assert r.status_code == 404


@pytest.mark.parametrize("path", ["/api/widget/sessions", "/api/widget/attachments"])
async def test_a_client_gone_mid_body_is_no_server_error(services: Services, path: str) -> None:
    """A reconnect storm cuts requests off mid-body: the gateway shrugs (the suite fails
    any test whose processes log an error, so this fails if ClientDisconnect escapes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", services.port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 5000\r\n\r\n{\"website_token\": ".encode())  # fmt: skip
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await asyncio.sleep(0.5)  # the gateway notices the disconnect and logs what it logs
    r = httpx.get(f"{services.base_url}/healthz")
    assert r.status_code == 200


async def test_a_socket_with_a_nul_in_its_query_is_refused(services: Services) -> None:
    """The socket routes are served ahead of the middleware (gateway/socket_front.py): a NUL
    still never reaches them."""
    for path in ("/ws/agent", "/ws/widget"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{services.ws_url}{path}?x=%00"):
                pass
        assert refused.value.response.status_code == 403
