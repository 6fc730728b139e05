"""The CRM webhook against a real local HTTP server that fails twice (a 503, then a hang
past the client's timeout) before accepting: retried with backoff, signed, never lost."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from conftest import World
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import crm_webhook as crm
from inbox.model import Contact, Conversation, CrmDelivery, Message, SignalCursor, utcnow

pytestmark = pytest.mark.timeout(60)
SECRET = secrets.token_urlsafe(24)


class Crm:
    """A CRM endpoint: per contact, a script of answers ("503", "hang", "400", "200")."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.scripts: dict[int, list[str]] = {}
        crm_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                crm_self.received.append((dict(self.headers), body))
                script = crm_self.scripts.get(json.loads(body)["contact_id"], [])
                answer = script.pop(0) if script else "200"
                if answer == "hang":
                    time.sleep(1.5)
                    answer = "200"  # too late: the client gave up already
                try:
                    self.send_response(int(answer))
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up, as intended

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/crocevia"

    def of(self, contact_id: int) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in self.received if json.loads(b)["contact_id"] == contact_id]


@pytest.fixture
def crm_server() -> Iterator[Crm]:
    server = Crm()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


async def _skip_history(db: async_sessionmaker[AsyncSession], redis: Redis) -> None:
    """Start the cursors after everything other tests wrote, as a fresh install would after
    its backfill."""
    now = utcnow()
    async with db() as session, session.begin():
        for source in crm.SOURCES:
            q = select(source.time, source.key)
            if source.by_id:
                q = q.order_by(source.key.desc())
                state: dict[str, Any] = {}
                row = (await session.execute(q.limit(1))).first()
                if row is not None:
                    state = {"id": int(row[1])}
            else:
                state = {"t": now.isoformat(), "id": 0}
            cursor = await session.get(SignalCursor, source.name)
            if cursor is None:
                session.add(SignalCursor(name=source.name, state=state, updated_at=now))
            else:
                cursor.state = state
    await redis.delete(crm.LOCK_KEY)


async def _push(db: async_sessionmaker[AsyncSession], redis: Redis, now: Any) -> int:
    await redis.delete(crm.LOCK_KEY)
    async with db() as session, session.begin():
        return await crm.push_changes(session, redis, now)


async def _write(db: async_sessionmaker[AsyncSession], world: World, contact_id: int,
                 score: float, label: str) -> None:  # fmt: skip
    async with db() as session, session.begin():
        conv = (await session.execute(
            select(Conversation).where(Conversation.contact_id == contact_id))).scalar_one_or_none()  # fmt: skip
        if conv is None:
            conv = Conversation(inbox_id=world.inbox_id, contact_id=contact_id, channel="telegram",
                                threaded=True, status="open")  # fmt: skip
            session.add(conv)
            await session.flush()
        session.add(Message(conversation_id=conv.id, inbox_id=world.inbox_id, direction="in",
                            text="testo privato", attachments=[], status="received",
                            author_contact_id=contact_id, sentiment_score=score,
                            sentiment_label=label, created_at=utcnow() - timedelta(seconds=30)))  # fmt: skip


async def test_changed_signals_are_pushed_signed_and_retried_until_accepted(
    db: async_sessionmaker[AsyncSession], world: World, redis_url: str, crm_server: Crm
) -> None:
    redis = Redis.from_url(redis_url)
    await _skip_history(db, redis)
    async with db() as session, session.begin():
        happy, refused = (
            Contact(name="Giulia", attributes={}),
            Contact(name="Rifiutato", attributes={}),
        )
        session.add_all([happy, refused])
        await session.flush()
    crm_server.scripts[happy.id] = ["503", "hang"]
    crm_server.scripts[refused.id] = ["400"]
    await _write(db, world, happy.id, -0.6, "negative")
    await _write(db, world, refused.id, 0.5, "positive")

    config = crm.CrmConfig(crm_server.url, SECRET, timeout_s=0.5)
    t = utcnow() + crm.SETTLE
    assert await _push(db, redis, t) == 2
    assert await _push(db, redis, t) == 0  # nothing changed since: nothing queued
    async with httpx.AsyncClient() as http:
        assert await crm.deliver_due(db, http, config, t) == 0  # 503 and 400
        assert await crm.deliver_due(db, http, config, t + timedelta(seconds=1)) == 0  # not due
        assert await crm.deliver_due(db, http, config, t + timedelta(seconds=2)) == 0  # hangs
        assert await crm.deliver_due(db, http, config, t + timedelta(seconds=5)) == 0  # not due
        assert await crm.deliver_due(db, http, config, t + timedelta(seconds=6)) == 1

        tries = crm_server.of(happy.id)
        assert len(tries) == 3 and len({b for _h, b in tries}) == 1  # the same body each time
        assert len({h["X-Crocevia-Delivery"] for h, _b in tries}) == 1
        for headers, body in tries:
            assert headers["X-Crocevia-Signature"] == crm.sign(SECRET, body)
            assert crm.verify(SECRET, body, headers["X-Crocevia-Signature"])
        payload = json.loads(tries[0][1])
        assert payload["contact_id"] == happy.id and payload["changed_at"]
        assert payload["signals"]["negative_streak"] == 1
        assert payload["signals"]["channels"] == ["telegram"]
        assert "testo privato" not in tries[0][1].decode()
        assert len(crm_server.of(refused.id)) == 1  # a 4xx is not retried
        async with db() as session:
            rows = {d.contact_id: d for d in (await session.execute(
                select(CrmDelivery).where(CrmDelivery.contact_id.in_([happy.id, refused.id])))).scalars()}  # fmt: skip
        assert rows[happy.id].delivered_at is not None and rows[happy.id].attempts == 3
        assert rows[refused.id].failed_at is not None and rows[refused.id].last_error == "HTTP 400"

        # A second negative message changes the signals: pushed again, accepted at once.
        await _write(db, world, happy.id, -0.7, "negative")
        later = t + timedelta(seconds=10)
        assert await _push(db, redis, later) == 1
        assert await crm.deliver_due(db, http, config, later) == 1
        latest = json.loads(crm_server.of(happy.id)[-1][1])
        assert latest["signals"]["negative_streak"] == 2
    await redis.aclose()


async def test_the_queue_survives_a_restart(
    db: async_sessionmaker[AsyncSession], world: World, redis_url: str, crm_server: Crm
) -> None:
    """Deliveries are rows: a pusher made afresh (a restarted router) sends what the old
    one queued but never delivered."""
    redis = Redis.from_url(redis_url)
    await _skip_history(db, redis)
    async with db() as session, session.begin():
        contact = Contact(name="Paolo", attributes={"plan": "pro"})
        session.add(contact)
        await session.flush()
    await _write(db, world, contact.id, 0.3, "positive")
    t = utcnow() + crm.SETTLE
    assert await _push(db, redis, t) == 1  # queued, then the process dies before sending
    pusher = crm.CrmPusher(db, redis, crm.CrmConfig(crm_server.url, SECRET, timeout_s=2))
    try:
        await redis.delete(crm.LOCK_KEY)
        assert await pusher.tick(t) == 1
    finally:
        await pusher.aclose()
    (got,) = crm_server.of(contact.id)
    assert json.loads(got[1])["signals"]["attributes"] == {"plan": "pro"}
    await redis.aclose()


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv("CROCEVIA_CRM_WEBHOOK_URL", raising=False)
    assert crm.CrmConfig.from_env() is None
    monkeypatch.setenv("CROCEVIA_CRM_WEBHOOK_URL", "https://crm.example/hook")
    monkeypatch.delenv("CROCEVIA_CRM_WEBHOOK_SECRET", raising=False)
    with pytest.raises(RuntimeError):
        crm.CrmConfig.from_env()
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret\n")
    monkeypatch.setenv("CROCEVIA_CRM_WEBHOOK_SECRET_FILE", str(secret_file))
    config = crm.CrmConfig.from_env()
    assert config is not None and config.secret == "s3cret"
    assert [config.backoff(n).total_seconds() for n in (1, 2, 3)] == [2, 4, 8]
