"""Outbound webhooks: an admin subscribes a URL to an event; each event is POSTed there,
signed, retried after a failure, and logged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from conftest import Services, World, make_staff
from crocevia_clients import Clients, login
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.embedded_redis import free_port

pytestmark = pytest.mark.timeout(90)


class Receiver:
    """An integrator's endpoint: answers 500 to the first POST, 200 after."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if not receiver.got else 200
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


async def test_a_subscribed_event_is_posted_signed_retried_and_logged(
    services: Services, world: World, clients: Clients, db: async_sessionmaker[AsyncSession],
    receiver: Receiver,
) -> None:  # fmt: skip
    email, password = await make_staff(db, "admin")
    token = await login(services.base_url, email, password)
    async with httpx.AsyncClient(base_url=services.base_url,
                                 headers={"Authorization": f"Bearer {token}"}) as admin:  # fmt: skip
        r = await admin.post("/api/admin/webhooks", json={
            "url": f"http://127.0.0.1:{receiver.port}/crocevia", "events": ["message.created"]})  # fmt: skip
        assert r.status_code == 201, r.text
        hook = r.json()
        bad = await admin.post("/api/admin/webhooks", json={"url": "ftp://x", "events": []})
        assert bad.status_code == 400
        visitor = await clients.visitor(world.website_token)
        await visitor.connect()
        await visitor.say("Avete il modello in rosso?")
        deadline = time.monotonic() + 30
        while len(receiver.got) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert [code for _h, _b, code in receiver.got[:2]] == [500, 200]
        (h1, b1, _), (h2, b2, _) = receiver.got[:2]
        assert h1["x-crocevia-delivery"] == h2["x-crocevia-delivery"]  # the same delivery, again
        expected = "sha256=" + hmac.new(hook["secret"].encode(),
                                        h2["x-crocevia-timestamp"].encode() + b"." + b2,
                                        hashlib.sha256).hexdigest()  # fmt: skip
        assert hmac.compare_digest(h2["x-crocevia-signature"], expected)
        sent = json.loads(b2)
        assert sent["event"] == "message.created"
        assert sent["data"]["message"]["text"] == "Avete il modello in rosso?"
        log = (await admin.get(f"/api/admin/webhooks/{hook['id']}/deliveries")).json()["deliveries"]
        first = [d for d in log if d["status"] == "sent"][-1]
        assert first["attempts"] == 2 and first["last_code"] == 200
        off = await admin.patch(f"/api/admin/webhooks/{hook['id']}", json={"active": False})
        assert off.status_code == 200 and off.json()["active"] is False
