"""Rate limits and the origin allowlist, as documented in gateway/limits.py and docs/api.md."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import Services, World
from crocevia_clients import Clients
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from inbox.model import Inbox, Message

pytestmark = pytest.mark.timeout(60)


async def test_failed_logins_for_one_email_are_throttled(services: Services, world: World) -> None:
    _id, email, password = world.agents["anna"]
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        codes = [
            (
                await http.post("/api/auth/login", json={"email": email, "password": "wrong"})
            ).status_code
            for _ in range(11)
        ]
        assert codes[:10] == [401] * 10 and codes[10] == 429
        r = await http.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert r.json()["error"]["code"] == "rate_limited"


async def test_a_flooding_visitor_is_refused_and_nothing_refused_is_stored(
    world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    visitor = await clients.visitor(world.website_token)
    await visitor.connect()
    answers = [await visitor.say(f"spam {i}") for i in range(25)]
    kinds = [a["type"] for a in answers]
    assert kinds[:20] == ["ack"] * 20
    assert all(a["type"] == "error" and a["code"] == "rate_limited" and a["retry_after"] >= 1
               for a in answers[20:])  # fmt: skip
    conv = answers[0]["message"]["conversation_id"]
    async with db() as session:
        n = (await session.execute(select(func.count()).select_from(Message).where(
            Message.conversation_id == conv))).scalar_one()  # fmt: skip
    assert n == 20


async def test_only_allowed_origins_may_embed_the_widget(
    services: Services, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session, session.begin():
        inbox = await session.get_one(Inbox, world.inbox_id)
        inbox.settings = {**inbox.settings, "allowed_origins": ["https://shop.example.it"]}
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        body = {"website_token": world.website_token}
        bad = await http.post(
            "/api/widget/sessions", json=body, headers={"Origin": "https://evil.example"}
        )
        assert bad.status_code == 403 and bad.json()["error"]["code"] == "origin_not_allowed"
        good = await http.post(
            "/api/widget/sessions", json=body, headers={"Origin": "https://shop.example.it"}
        )
        assert good.status_code == 200
    token = good.json()["visitor_token"]
    auth = json.dumps({"type": "auth", "token": token})
    async with connect(services.ws_url + "/ws/widget", origin="https://evil.example") as ws:  # type: ignore[arg-type]
        await ws.send(auth)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with connect(services.ws_url + "/ws/widget", origin="https://shop.example.it") as ws:  # type: ignore[arg-type]
        await ws.send(auth)
        assert json.loads(await ws.recv())["type"] == "ready"
