"""The settings API (admins): inboxes of every channel with their secrets kept as files,
teams and agents; what others may not do; and what a bad or dangerous setting gets."""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Services, World, make_staff
from crocevia_clients import Clients, login
from fakes.telegram_api import FakeTelegram
from mailservers.accounts import IMAP_PASSWORD, MAILBOX
from mailservers.dovecot import Dovecot
from mailservers.smtp_peer import SmtpPeer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.embedded_redis import free_port
from inbox.model import AuditEntry, Conversation, Message

pytestmark = pytest.mark.timeout(90)


async def _http(services: Services, db: async_sessionmaker[AsyncSession], role: str,
                team_id: int | None = None) -> httpx.AsyncClient:  # fmt: skip
    email, password = await make_staff(db, role, team_id)
    token = await login(services.base_url, email, password)
    return httpx.AsyncClient(base_url=services.base_url, timeout=30,
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip


@pytest.fixture
async def admin(services: Services, db: async_sessionmaker[AsyncSession]) -> AsyncIterator[
    httpx.AsyncClient
]:  # fmt: skip
    http = await _http(services, db, "admin")
    yield http
    await http.aclose()


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram(f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}").start()
    yield server
    server.stop()


async def test_only_admins_see_or_change_settings(
    services: Services, db: async_sessionmaker[AsyncSession], world: World
) -> None:
    for role in ("agent", "lead", "marketing"):
        http = await _http(services, db, role)
        async with http:
            assert (await http.get("/api/admin/inboxes")).status_code == 403
            r = await http.post("/api/admin/teams", json={"name": f"t-{secrets.token_hex(3)}"})
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
            r = await http.patch(f"/api/admin/agents/{world.agents['anna'][0]}",
                                 json={"role": "admin"})  # fmt: skip
            assert r.status_code == 403
    async with httpx.AsyncClient(base_url=services.base_url) as anonymous:
        assert (await anonymous.get("/api/admin/agents")).status_code == 401


async def test_an_invited_agent_logs_in_and_a_deactivated_one_is_shut_out(
    services: Services, db: async_sessionmaker[AsyncSession], admin: httpx.AsyncClient
) -> None:
    name = f"Turno sera {secrets.token_hex(3)}"
    team = await admin.post("/api/admin/teams", json={"name": name, "routing_policy": "least_busy"})
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    assert (await admin.post("/api/admin/teams", json={"name": name.upper()})).status_code == 409
    email = f"giulia-{secrets.token_hex(3)}@shop.test"
    r = await admin.post("/api/admin/agents", json={
        "email": email, "name": "Giulia Bianchi", "role": "agent", "languages": ["it", "en"],
        "capacity": 4, "team_ids": [team_id]})  # fmt: skip
    assert r.status_code == 201, r.text
    invited = r.json()
    assert invited["team_ids"] == [team_id] and invited["capacity"] == 4
    token = await login(services.base_url, email, invited["password"])
    listed = (await admin.get("/api/admin/agents")).json()
    assert "password" not in json.dumps(listed) and any(a["email"] == email for a in listed)
    teams = {t["id"]: t for t in (await admin.get("/api/admin/teams")).json()}
    assert teams[team_id]["members"] == 1 and teams[team_id]["routing_policy"] == "least_busy"
    assert (
        await admin.post("/api/admin/agents", json={"email": email.upper(), "name": "x"})
    ).status_code == 409

    r = await admin.patch(f"/api/admin/agents/{invited['id']}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        me = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401  # the session ended with the account
        again = await http.post("/api/auth/login",
                                json={"email": email, "password": invited["password"]})  # fmt: skip
        assert again.status_code == 401
    async with db() as session:
        actions = set((await session.execute(
            select(AuditEntry.action).where(AuditEntry.target_id == str(invited["id"]))
        )).scalars())  # fmt: skip
    assert {"agent.invited", "agent.updated"} <= actions


@pytest.mark.parametrize(("patch", "words"), [
    ({"bot_token": "123:abc"}, "is a secret"),
    ({"bot_token_file": "/etc/passwd"}, "secret folder"),
    ({"bot_token_env": "CROCEVIA_SECRET_KEY"}, "Crocevia's own"),
    ({"webhook_url": "https://x.example"}, "not a setting"),
    ({"business_hours": {"schedule": {"mon": [["18:00", "09:00"]]}}}, "ends before"),
    ({"sla": {"urgent": {"first_response_minutes": 0}}}, "first_response_minutes"),
    ({"auto_reply": {"de": "Hallo"}}, "keyed by"),
])  # fmt: skip
async def test_a_bad_or_dangerous_setting_is_refused_by_name(
    admin: httpx.AsyncClient, patch: dict[str, object], words: str
) -> None:
    r = await admin.post("/api/admin/inboxes", json={
        "name": "Bot", "channel": "telegram", "settings": patch})  # fmt: skip
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_settings" and words in r.json()["error"]["message"]


async def test_a_telegram_inbox_from_the_api_takes_updates_through_its_webhook(
    services: Services, db: async_sessionmaker[AsyncSession], admin: httpx.AsyncClient,
    fake: FakeTelegram,
) -> None:  # fmt: skip
    r = await admin.post("/api/admin/inboxes", json={
        "name": "Bot negozio", "channel": "telegram",
        "settings": {"api_base_url": fake.url, "language": "it",
                     "sla": {"urgent": {"first_response_minutes": 15}}},
        "secrets": {"bot_token": fake.token}})  # fmt: skip
    assert r.status_code == 201, r.text
    inbox = r.json()
    assert fake.token not in r.text and inbox["secrets"] == {
        "bot_token": "file",
        "webhook_secret": "file",
    }
    token_file = Path(inbox["settings"]["bot_token_file"])
    assert token_file.parent == services.data_dir / "secrets"
    assert token_file.read_text().strip() == fake.token
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600

    r = await admin.post(f"/api/admin/inboxes/{inbox['id']}/telegram_webhook")
    assert r.status_code == 200, r.text
    (call,) = fake.calls_of("setWebhook")
    assert call.params["url"] == r.json()["url"] == inbox["webhook_url"]
    secret = call.params["secret_token"]

    update = {"update_id": 1, "message": {
        "message_id": 7, "date": int(time.time()), "text": "Ciao, il mio ordine?",
        "chat": {"id": 4242, "type": "private"}, "from": {"id": 4242, "is_bot": False,
                                                         "first_name": "Marta"}}}  # fmt: skip
    path = f"/webhooks/telegram/{inbox['id']}"
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        forged = await http.post(path, json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})  # fmt: skip
        assert forged.status_code == 401
        ok = await http.post(path, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret})
        assert ok.status_code == 200, ok.text
    async with db() as session:
        texts = list((await session.execute(
            select(Message.text).where(Message.inbox_id == inbox["id"])
        )).scalars())  # fmt: skip
    assert texts == ["Ciao, il mio ordine?"]

    r = await admin.patch(f"/api/admin/inboxes/{inbox['id']}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        off = await http.post(
            path, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        )
    assert off.status_code == 404 and off.json()["error"]["code"] == "inbox_disabled"


async def test_a_website_inbox_gives_its_snippet_and_a_disabled_one_shows_no_chat(
    services: Services, admin: httpx.AsyncClient
) -> None:
    r = await admin.post("/api/admin/inboxes", json={
        "name": "Negozio", "channel": "website", "timezone": "Europe/Rome",
        "settings": {"greeting": "Ciao! Come possiamo aiutarti?",
                     "prechat": {"name": "required", "email": "optional"},
                     "allowed_origins": ["https://negozio.example.it"]}})  # fmt: skip
    assert r.status_code == 201, r.text
    inbox = r.json()
    assert inbox["website_token"] in inbox["snippet"] and "/widget.js" in inbox["snippet"]
    body = {"website_token": inbox["website_token"]}
    origin = {"Origin": "https://negozio.example.it"}
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        session = await http.post("/api/widget/sessions", json=body, headers=origin)
        assert session.status_code == 200, session.text
        assert session.json()["inbox"]["greeting"] == "Ciao! Come possiamo aiutarti?"
        assert session.json()["inbox"]["prechat"]["name"] == "required"
        r = await admin.patch(f"/api/admin/inboxes/{inbox['id']}", json={
            "settings": {"greeting": "Buonasera!", "prechat": None}, "timezone": "Mars/Base"})  # fmt: skip
        assert r.status_code == 400  # nothing of a refused change is stored
        r = await admin.patch(f"/api/admin/inboxes/{inbox['id']}", json={
            "settings": {"greeting": "Buonasera!", "prechat": None}})  # fmt: skip
        assert r.status_code == 200 and "prechat" not in r.json()["settings"]
        assert (await http.post("/api/widget/sessions", json=body, headers=origin)).json()[
            "inbox"]["greeting"] == "Buonasera!"  # fmt: skip
        await admin.patch(f"/api/admin/inboxes/{inbox['id']}", json={"disabled": True})
        off = await http.post("/api/widget/sessions", json=body, headers=origin)
    assert off.status_code == 404 and off.json()["error"]["code"] == "inbox_disabled"


async def test_the_email_check_logs_in_to_imap_and_smtp_and_names_what_failed(
    services: Services, admin: httpx.AsyncClient, dovecot: Dovecot, smtp_peer: SmtpPeer,
) -> None:  # fmt: skip
    folder = services.data_dir / "secrets"
    folder.mkdir(exist_ok=True)
    ca = folder / f"smtp-ca-{secrets.token_hex(3)}.pem"
    ca.write_bytes(smtp_peer.cert.read_bytes())
    r = await admin.post("/api/admin/inboxes", json={
        "name": "Posta", "channel": "email",
        "settings": {"address": MAILBOX, "imap_host": "127.0.0.1", "imap_port": dovecot.port,
                     "imap_security": "none", "smtp_host": "127.0.0.1",
                     "smtp_port": smtp_peer.port, "smtp_security": "starttls",
                     "smtp_username": smtp_peer.username, "smtp_ca_file": str(ca)},
        "secrets": {"imap_password": IMAP_PASSWORD, "smtp_password": smtp_peer.password}})  # fmt: skip
    assert r.status_code == 201, r.text
    inbox_id = r.json()["id"]
    check = await admin.post(f"/api/admin/inboxes/{inbox_id}/email_check")
    assert check.status_code == 200, check.text
    assert check.json()["imap"]["ok"] and check.json()["smtp"]["ok"], check.text
    assert smtp_peer.logins == [smtp_peer.username]

    closed = free_port()
    r = await admin.patch(f"/api/admin/inboxes/{inbox_id}", json={
        "secrets": {"imap_password": "wrong"}, "settings": {"smtp_port": closed}})  # fmt: skip
    assert r.status_code == 200, r.text
    check = (await admin.post(f"/api/admin/inboxes/{inbox_id}/email_check")).json()
    assert not check["imap"]["ok"] and "LOGIN" in check["imap"]["detail"]
    assert not check["smtp"]["ok"] and f"127.0.0.1:{closed}" in check["smtp"]["detail"]


async def test_an_inbox_moved_to_another_team_routes_the_next_chat_there(
    services: Services, db: async_sessionmaker[AsyncSession], world: World,
    admin: httpx.AsyncClient, clients: Clients,
) -> None:  # fmt: skip
    # The intake keeps inboxes for a few seconds (inbox/inbox_cache.py): an admin's edit
    # must still hold for the very next conversation, not one a few seconds later.
    first = await clients.visitor(world.website_token)
    await first.connect()
    assert (await first.say("Prima domanda"))["type"] == "ack"
    r = await admin.post("/api/admin/teams", json={"name": f"Resi-{secrets.token_hex(3)}"})
    assert r.status_code == 201, r.text
    other_team = r.json()["id"]
    r = await admin.patch(f"/api/admin/inboxes/{world.inbox_id}", json={"team_id": other_team})
    assert r.status_code == 200, r.text
    second = await clients.visitor(world.website_token)
    await second.connect()
    ack = await second.say("Seconda domanda")
    async with db() as session:
        conv = await session.get_one(Conversation, ack["message"]["conversation_id"])
    assert conv.team_id == other_team
