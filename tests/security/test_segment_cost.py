"""A segment rule cannot be made costly: oversized rules are refused with 400 and a reason,
and evaluating a real segment never stalls the gateway's event loop."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import pytest
from conftest import Services, World
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def marketer(db: async_sessionmaker[AsyncSession], world: World) -> tuple[str, str]:
    password = secrets.token_urlsafe(10)
    email = f"mkt-{secrets.token_hex(3)}@example.test"
    async with db() as session, session.begin():
        session.add(Agent(email=email, name="Mara", role="marketing",
                          password_hash=hash_password(password)))  # fmt: skip
    return email, password


async def test_oversized_rules_are_refused_and_counting_leaves_the_loop_free(
    services: Services, marketer: tuple[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=services.base_url, timeout=60) as http:
        r = await http.post(
            "/api/auth/login", json=dict(zip(("email", "password"), marketer, strict=True))
        )
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        empty_groups = {"any": [{"all": []}] * 150}
        r = await http.post("/api/segments", json={"name": "costly", "rules": empty_groups})
        assert r.status_code == 400 and "empty group" in r.json()["error"]["message"]
        wide = {"any": [{"signal": "messages_in", "op": ">", "value": 1}] * 5000}
        r = await http.post("/api/segments", json={"name": "costly", "rules": wide})
        assert r.status_code == 400 and "more than" in r.json()["error"]["message"]
        nested_empty = {"all": [{"any": [{"all": []} for _ in range(199)]}]}
        r = await http.post("/api/segments", json={"name": "costly", "rules": nested_empty})
        assert r.status_code == 400

        heavy = {"any": [{"not": {"signal": "attribute", "key": f"k{i}", "op": "in",
                                  "value": [f"v{j}" for j in range(200)]}} for i in range(99)]}  # fmt: skip
        r = await http.post("/api/segments", json={"name": f"heavy {secrets.token_hex(3)}",
                                                   "rules": heavy})  # fmt: skip
        assert r.status_code == 201, r.text
        seg_id = r.json()["id"]

        async def health_while(task: asyncio.Task[httpx.Response]) -> list[float]:
            waits = []
            while not task.done():
                started = time.monotonic()
                assert (await http.get("/healthz")).status_code == 200
                waits.append(time.monotonic() - started)
                await asyncio.sleep(0.02)
            return waits

        counting = asyncio.create_task(http.get(f"/api/segments/{seg_id}"))
        waits = await health_while(counting)
        assert (await counting).status_code == 200
        assert max(waits, default=0) < 1.0, waits
