"""Outbound webhooks, through the real gateway and worker processes: an admin subscribes a
URL to an event; each such event is POSTed there signed, retried after a failure, logged;
a paused subscription gets nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import pytest
from conftest import Services, World, make_staff
from crocevia_clients import Clients, login
from http_receiver import Receiver, receiving
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.timeout(90)


async def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def _expected_signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    signed = headers["x-crocevia-timestamp"].encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


async def _admin(services: Services, db: async_sessionmaker[AsyncSession]) -> httpx.AsyncClient:
    email, password = await make_staff(db, "admin")
    token = await login(services.base_url, email, password)
    return httpx.AsyncClient(base_url=services.base_url,
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def _mine(receiver: Receiver, text: str) -> list[dict[str, object]]:
    bodies = [json.loads(r.body) for r in receiver.got]
    return [b for b in bodies if b["data"]["message"]["text"] == text]  # type: ignore[index]


async def test_a_subscribed_event_is_posted_signed_retried_and_logged(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession]
) -> None:
    with receiving(script=[500]) as receiver:
        async with await _admin(services, db) as admin:
            r = await admin.post("/api/admin/webhooks", json={
                "url": f"{receiver.url}/crocevia", "events": ["message.created"],
                "description": "il nostro ERP"})  # fmt: skip
            assert r.status_code == 201, r.text
            hook = r.json()
            assert hook["events"] == ["message.created"] and len(hook["secret"]) >= 32
            listed = (await admin.get("/api/admin/webhooks")).json()
            mine = [h for h in listed["webhooks"] if h["id"] == hook["id"]]
            assert mine and "secret" not in mine[0]  # shown once, at creation

            visitor = await clients.visitor(world.website_token)
            await visitor.connect()
            started = time.monotonic()
            await visitor.say("Avete il modello in rosso?")
            await _until(lambda: len(receiver.got) >= 2)
            first, second = receiver.got[:2]
            # The failed try is retried: the same delivery, the same body, signed afresh.
            assert [first.answered, second.answered] == [500, 200]
            assert second.path == "/crocevia"
            assert first.headers["x-crocevia-delivery"] == second.headers["x-crocevia-delivery"]
            assert first.body == second.body
            assert hmac.compare_digest(
                second.headers["x-crocevia-signature"],
                _expected_signature(hook["secret"], second.headers, second.body),
            )
            assert abs(int(second.headers["x-crocevia-timestamp"]) - time.time()) < 60
            sent = json.loads(second.body)
            assert sent["event"] == "message.created" == second.headers["x-crocevia-event"]
            assert sent["data"]["message"]["text"] == "Avete il modello in rosso?"
            assert sent["data"]["conversation"]["inbox_id"] == world.inbox_id
            print(
                f"webhook: first try {first.at - started:.2f} s after the message, retry "
                f"{second.at - first.at:.2f} s later"
            )
            # Only the events subscribed to: no conversation.created was sent.
            assert {json.loads(x.body)["event"] for x in receiver.got} == {"message.created"}

            log = (await admin.get(f"/api/admin/webhooks/{hook['id']}/deliveries")).json()
            done = [d for d in log["deliveries"] if d["event_id"] == sent["id"]]
            assert done and done[0]["status"] == "sent"
            assert done[0]["attempts"] == 2 and done[0]["last_status"] == 200
            again = await admin.post(
                f"/api/admin/webhooks/{hook['id']}/deliveries/{done[0]['id']}/redeliver"
            )
            assert again.status_code == 409

            # Paused: what happens meanwhile is not sent, now or later.
            off = await admin.patch(f"/api/admin/webhooks/{hook['id']}", json={"active": False})
            assert off.status_code == 200 and off.json()["active"] is False
            await visitor.say("Ci siete?")
            await asyncio.sleep(3)
            on = await admin.patch(f"/api/admin/webhooks/{hook['id']}", json={"active": True})
            assert on.status_code == 200
            await visitor.say("Grazie, aspetto")
            await _until(lambda: bool(_mine(receiver, "Grazie, aspetto")))
            assert _mine(receiver, "Grazie, aspetto") and not _mine(receiver, "Ci siete?")

            gone = await admin.delete(f"/api/admin/webhooks/{hook['id']}")
            assert gone.status_code == 204
            assert (
                await admin.get(f"/api/admin/webhooks/{hook['id']}/deliveries")
            ).status_code == 404


async def test_bad_subscriptions_are_refused_clearly(
    services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    async with await _admin(services, db) as admin:
        for body, word in (
            ({"url": "ftp://example.test/x"}, "url"),
            ({"url": "https://user:pw@example.test/x"}, "url"),
            ({"url": "https://example.test/x", "events": ["message.deleted_forever"]}, "unknown"),
            ({"url": "https://example.test/x", "events": "message.created"}, "events"),
            ({"url": "https://example.test/x", "active": "yes"}, "active"),
        ):
            r = await admin.post("/api/admin/webhooks", json=body)
            assert r.status_code == 400, (body, r.text)
            assert word in r.json()["error"]["message"]
