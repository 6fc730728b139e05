"""The API channel end to end: an admin makes an API inbox; the business's app posts its
users' messages with the inbox's token; an agent's replies reach the app's reply URL,
signed, retried after a 503, failed visibly after a refusal."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from conftest import Services, World, make_staff
from crocevia_clients import Clients, login
from http_receiver import Receiver, receiving
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.signed_post import verify
from inbox.model import Contact, Message

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def admin(services: Services, db: async_sessionmaker[AsyncSession]) -> AsyncIterator[
    httpx.AsyncClient
]:  # fmt: skip
    email, password = await make_staff(db, "admin")
    token = await login(services.base_url, email, password)
    async with httpx.AsyncClient(base_url=services.base_url,
                                 headers={"Authorization": f"Bearer {token}"}) as http:  # fmt: skip
        yield http


async def _api_inbox(admin: httpx.AsyncClient, world: World, receiver: Receiver) -> dict[str, Any]:
    r = await admin.post("/api/admin/inboxes", json={
        "name": "App negozio", "channel": "api", "team_id": world.team_id,
        "settings": {"reply_url": f"{receiver.url}/crocevia/replies"}})  # fmt: skip
    assert r.status_code == 201, r.text
    inbox: dict[str, Any] = r.json()
    assert inbox["secrets"] == {"api_token": "file"} and len(inbox["api_token"]) >= 32
    assert inbox["webhook_url"].endswith(f"/webhooks/api/{inbox['id']}")
    listed = (await admin.get("/api/admin/inboxes")).json()
    assert inbox["api_token"] not in json.dumps(listed)  # shown once, at creation
    return inbox


def _message(user: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"m-{uuid.uuid4().hex[:10]}", "text": text,
            "contact": {"id": user, "name": "Giulia Rossi"}, **extra}  # fmt: skip


async def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def test_an_apps_messages_come_in_and_replies_go_back_signed_and_retried(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession],
    admin: httpx.AsyncClient,
) -> None:  # fmt: skip
    with receiving(script=[503], reply=b'{"id": "app-reply-1"}') as app:
        inbox = await _api_inbox(admin, world, app)
        _id, email, password = world.agents["anna"]
        agent = await clients.agent(email, password)
        await agent.connect()
        path = f"/webhooks/api/{inbox['id']}"
        good = {"Authorization": f"Bearer {inbox['api_token']}"}
        user = f"user-{uuid.uuid4().hex[:6]}"
        first = _message(user, "Il mio ordine 4471 non è arrivato",
                         sent_at="2026-12-02T10:00:00+01:00")  # fmt: skip
        async with httpx.AsyncClient(base_url=services.base_url) as http:
            forged = await http.post(path, json={"messages": [first]},
                                     headers={"Authorization": "Bearer wrong"})  # fmt: skip
            assert forged.status_code == 401
            assert (await http.post(path, json={"messages": [first]})).status_code == 401
            ok = await http.post(path, json={"messages": [first]}, headers=good)
            assert ok.status_code == 200 and ok.json() == {"received": 1, "stored": 1}, ok.text
            again = await http.post(path, json={"messages": [first]}, headers=good)
            assert again.json() == {"received": 1, "stored": 0}  # a repeat stores nothing

        created = await agent.wait_for(
            lambda f: (
                f.get("event") == "message.created"
                and f["data"]["message"]["text"] == first["text"]
            )
        )
        conv = created["data"]["conversation"]
        assert conv["inbox_id"] == inbox["id"] and conv["channel"] == "api"
        ack = await agent.reply(conv["id"], "Ciao Giulia, lo verifico subito.")
        assert ack["type"] == "ack", ack
        reply_id = ack["message"]["id"]
        await agent.wait_for(
            lambda f: (
                f.get("event") == "message.updated"
                and f["data"]["message"]["id"] == reply_id
                and f["data"]["message"]["status"] == "sent"
            ),
            timeout=30,
        )
        assert [g.answered for g in app.got] == [503, 200]  # retried after the 503
        got = app.got[-1]
        assert got.path == "/crocevia/replies"
        assert verify(inbox["api_token"], got.body, got.headers["x-crocevia-timestamp"],
                      got.headers["x-crocevia-signature"])  # fmt: skip
        body = json.loads(got.body)
        assert body["contact_id"] == user and body["conversation_id"] == conv["id"]
        assert body["text"] == "Ciao Giulia, lo verifico subito."
        assert body["id"] == str(reply_id)
        async with db() as session:
            msg = await session.get_one(Message, reply_id)
            assert msg.external_id == "app-reply-1"
            contact = await session.get_one(Contact, conv["contact"]["id"])
            assert contact.name == "Giulia Rossi"

        # The app refuses a reply for good: it fails, visibly.
        app.then = 422
        ack = await agent.reply(conv["id"], "Secondo messaggio")
        failed_id = ack["message"]["id"]
        failed = await agent.wait_for(
            lambda f: (
                f.get("event") == "message.updated"
                and f["data"]["message"]["id"] == failed_id
                and f["data"]["message"]["status"] == "failed"
            ),
            timeout=30,
        )
        assert "422" in (failed["data"]["message"].get("error") or "")


async def test_a_bad_body_is_refused_whole_naming_the_field(
    services: Services, world: World, db: async_sessionmaker[AsyncSession],
    admin: httpx.AsyncClient,
) -> None:  # fmt: skip
    with receiving() as app:
        inbox = await _api_inbox(admin, world, app)
    path = f"/webhooks/api/{inbox['id']}"
    good = {"Authorization": f"Bearer {inbox['api_token']}"}
    fine = _message("u-1", "ciao")
    cases = [
        ({"messages": []}, "messages"),
        ({"message": fine}, "messages"),
        ({"messages": [fine, {**fine, "id": ""}]}, "messages[1].id"),
        ({"messages": [{**fine, "contact": {"name": "x"}}]}, "messages[0].contact.id"),
        ({"messages": [{**fine, "text": ""}]}, "text or attachments"),
        ({"messages": [{**fine, "sent_at": "ieri"}]}, "sent_at"),
        ({"messages": [{**fine, "sent_at": "2026-12-02T10:00:00"}]}, "time zone"),
        ({"messages": [{**fine, "attachments": [{"url": "javascript:alert(1)"}]}]}, "url"),
    ]
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        for body, word in cases:
            r = await http.post(path, json=body, headers=good)
            assert r.status_code == 400, (body, r.text)
            assert word in r.json()["error"]["message"], (word, r.text)
        r = await http.post(path, content=b"{not json", headers=good)
        assert r.status_code == 400
    async with db() as session:
        stored = (await session.execute(
            select(Message.id).where(Message.inbox_id == inbox["id"]))).all()  # fmt: skip
    assert stored == []  # the good message beside the bad one was not stored either
