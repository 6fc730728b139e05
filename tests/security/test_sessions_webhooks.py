"""Bearer sessions (expiry, revocation, login throttling), CORS, forged webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from conftest import Services, World
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from inbox.model import AgentSession, Inbox, utcnow

pytestmark = pytest.mark.timeout(90)


async def test_logout_revokes_and_expired_tokens_are_refused(
    services: Services, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    agent_id, email, password = world.agents["anna"]
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post("/api/auth/login", json={"email": email, "password": password})
        token = r.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert (await http.get("/api/me", headers=auth)).status_code == 200
        assert (await http.post("/api/auth/logout", headers=auth)).status_code == 200
        assert (await http.get("/api/me", headers=auth)).status_code == 401
        expired = secrets.token_urlsafe(32)
        async with db() as session, session.begin():
            session.add(AgentSession(token_hash=hashlib.sha256(expired.encode()).hexdigest(),
                                     agent_id=agent_id,
                                     expires_at=utcnow() - timedelta(seconds=1)))  # fmt: skip
        r = await http.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
        assert r.status_code == 401
        for bad in ("", "Bearer", "Basic " + token, f"Bearer {token}x", "Bearer é"):
            r = await http.get("/api/me", headers={"Authorization": bad.encode("latin-1")})  # type: ignore[dict-item]
            assert r.status_code == 401, bad
    for dead in (token, expired):
        async with connect(services.ws_url + "/ws/agent") as ws:
            await ws.send(json.dumps({"type": "auth", "token": dead}))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_login_throttling_answers_429_with_retry_after(
    services: Services, world: World
) -> None:
    _id, email, _password = world.agents["anna"]
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        codes = []
        for _ in range(12):
            r = await http.post("/api/auth/login", json={"email": email.upper(), "password": "x"})
            codes.append(r.status_code)
        assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
        assert int(r.headers["retry-after"]) >= 1


async def test_cors_never_allows_credentials_with_a_wildcard(services: Services) -> None:
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        pre = await http.options("/api/conversations", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})  # fmt: skip
        assert pre.headers.get("access-control-allow-origin") == "*"
        assert "access-control-allow-credentials" not in pre.headers
        r = await http.get("/api/openapi.json", headers={"Origin": "https://evil.example"})
        assert r.headers.get("access-control-allow-origin") == "*"
        assert "access-control-allow-credentials" not in r.headers
        assert "set-cookie" not in r.headers  # bearer tokens only: nothing ambient to steal


def _forged_count(services: Services) -> int:
    return sum(p.read_text(errors="replace").count("webhook_forged")
               for p in Path(services.data_dir).glob("serve-*.log"))  # fmt: skip


async def test_every_webhook_channel_refuses_forged_requests(
    services: Services, world: World, db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(24)
    (tmp_path / "secret").write_text(secret)
    ref = str(tmp_path / "secret")
    inboxes = {
        "telegram": ("telegram", {"webhook_secret_file": ref, "bot_token_file": ref}),
        "x": ("x", {"consumer_secret_file": ref, "account_id": "42"}),
        "meta": ("messenger", {"app_secret_file": ref, "page_id": "1"}),
    }
    ids = {}
    async with db() as session, session.begin():
        for path, (channel, settings) in inboxes.items():
            row = Inbox(name=f"sec-{path}", channel=channel, team_id=world.team_id,
                        settings=settings)  # fmt: skip
            session.add(row)
            await session.flush()
            ids[path] = row.id
        bare = Inbox(name="sec-nosecret", channel="telegram", team_id=world.team_id, settings={})
        session.add(bare)
        await session.flush()
    body = json.dumps({"update_id": 1, "object": "page", "entry": []}).encode()
    forged_headers = {
        "telegram": [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}],
        "x": [{}, {"x-twitter-webhooks-signature": "sha256=AAAA"}],
        "meta": [{}, {"X-Hub-Signature-256": "sha256=" + "0" * 64},
                 {"X-Hub-Signature-256": "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()}],
    }  # fmt: skip
    before = _forged_count(services)
    sent = 0
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        for path, variants in forged_headers.items():
            for headers in variants:
                r = await http.post(f"/webhooks/{path}/{ids[path]}", content=body, headers=headers)
                sent += 1
                assert r.status_code == 401, (path, headers, r.text)
        r = await http.post(f"/webhooks/telegram/{bare.id}", content=body,
                            headers={"X-Telegram-Bot-Api-Secret-Token": ""})  # fmt: skip
        sent += 1
        assert r.status_code == 401
        # A genuine Telegram request with the secret passes verification.
        ok = await http.post(f"/webhooks/telegram/{ids['telegram']}", content=body,
                             headers={"X-Telegram-Bot-Api-Secret-Token": secret})  # fmt: skip
        assert ok.status_code == 200
    import asyncio

    for _ in range(50):
        if _forged_count(services) - before >= sent:
            break
        await asyncio.sleep(0.1)
    assert _forged_count(services) - before == sent
