"""Known attacks: SQL injection through filters (CVE-2025-21628 style), stored XSS through
uploads (CVE-2021-3741), SSRF through remote fetches (CVE-2021-3742), hostile links."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import Services, make_world
from crocevia_clients import Clients
from fakes.telegram_api import FakeTelegram
from security_world import Roles, make_roles
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Route

from connectors import safe_fetch
from connectors.meta import MetaConfig, MetaConnector
from connectors.safe_fetch import FetchPolicy, TooLarge, UnsafeURL
from connectors.telegram import TelegramConfig, TelegramConnector
from gateway.app import api_routes
from inbox import preparation
from inbox.files import FileStore
from inbox.model import Message
from inbox.types import Attachment, Channel, safe_link

pytestmark = pytest.mark.timeout(120)

PAYLOADS = [
    "' OR 1=1 --",
    "1; DROP TABLE messages",
    "1 OR 1=1",
    '{"$ne": null}',
    '{"op": "or", "value": "1=1"}',
    "') OR ('a'='a",
    "label\x00",
    "%' OR '%'='",
    "9" * 40,
    "-1",
    "status = 'open' UNION SELECT password_hash FROM agents --",
]
REPORT = ["from", "to", "group_by", "inbox_id"]
PARAMS = {
    "/api/conversations": ["view", "status", "channel", "inbox_id", "label", "limit"],
    "/api/reports/summary": REPORT, "/api/reports/summary.csv": REPORT,
    "/api/reports/heatmap": REPORT, "/api/audit": ["action", "before_id", "limit"],
    "/api/signals/export": ["format", "segment"],
}  # fmt: skip
DEFAULT_PARAMS = ["q", "filter", "status", "limit"]


@pytest.fixture
async def roles(
    services: Services, db: async_sessionmaker[AsyncSession], clients: Clients
) -> Roles:
    return await make_roles(services, db, clients)


async def test_sql_injection_in_every_filter_gets_400_or_plain_results(
    services: Services, roles: Roles, db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session:
        before = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
    gets = [r.path for r in api_routes() if isinstance(r, Route) and "GET" in (r.methods or ())
            and r.path.startswith("/api/") and "{" not in r.path.replace("{id}", "")]  # fmt: skip
    sent = 0
    async with httpx.AsyncClient(base_url=services.base_url, timeout=30) as http:
        for role in ("agent_b", "lead"):
            for path in gets:
                for payload in PAYLOADS:
                    url = path.replace("{id}", str(roles.contact_id if "contact" in path else 1))
                    for name in PARAMS.get(path, DEFAULT_PARAMS) if "{id}" not in path else ():
                        r = await http.get(url, params={name: payload}, headers=roles.headers(role))
                        sent += 1
                        assert r.status_code < 500, (role, url, name, payload, r.text[:300])
                        if role == "agent_b" and r.status_code == 200:
                            assert "my order 1234" not in r.text, (url, name, payload)
                            assert "Owner Olga" not in r.text, (url, name, payload)
                    if "{id}" in path:  # the payload as the path id
                        quoted = urllib.parse.quote(payload, safe="")
                        r = await http.get(
                            path.replace("{id}", quoted), headers=roles.headers(role)
                        )
                        sent += 1
                        assert r.status_code in (400, 403, 404), (
                            role,
                            path,
                            payload,
                            r.status_code,
                        )
        # Segment rules: operators, keys and values from the attacker.
        for payload in PAYLOADS:
            for rules in ({"signal": "attribute", "key": payload, "op": "=", "value": payload},
                          {"signal": payload, "op": "=", "value": 1},
                          {"signal": "attribute", "key": "plan", "op": payload, "value": "x"},
                          {"all": [{"signal": "attribute", "key": "plan", "op": "in",
                                    "value": [payload, {"$gt": ""}]}]}):  # fmt: skip
                r = await http.post("/api/segments", headers=roles.headers("lead"),
                                    json={"name": f"x{sent}", "rules": rules})  # fmt: skip
                sent += 1
                if r.status_code == 404 and "segments" not in str(api_routes()):
                    break
                assert r.status_code in (201, 400), (rules, r.text[:300])
                if r.status_code == 201:
                    m = await http.get(f"/api/segments/{r.json()['id']}/members",
                                       headers=roles.headers("lead"))  # fmt: skip
                    assert m.status_code == 200, m.text[:300]
    async with db() as session:
        after = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
    assert after >= before  # the table is still there and nothing was deleted
    print(f"sql injection: {sent} requests")


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_uploaded_svg_and_html_are_downloads_never_inline(
    services: Services, roles: Roles
) -> None:
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        agent = roles.headers("agent_a")
        for data, name in ((SVG, 'avatar.svg"; x="../../evil'), (HTML, "page.html"),
                           (SVG, "image.png"), (b"GIF89a" + HTML, "poly.html")):  # fmt: skip
            r = await http.post("/api/attachments", headers=agent, files={"file": (name, data)})
            assert r.status_code == 201, r.text
            stored = r.json()
            d = await http.get(f"/api/files/{stored['id']}")
            assert d.status_code == 200 and d.content == data
            assert d.headers["x-content-type-options"] == "nosniff"
            assert d.headers["content-security-policy"] == "default-src 'none'"
            kind = d.headers["content-type"]
            assert "svg" not in kind and "html" not in kind, kind
            disposition = d.headers["content-disposition"]
            if kind.startswith("image/gif"):
                assert disposition.startswith("inline")  # a real GIF; nosniff keeps it one
            else:
                assert kind == "application/octet-stream" and disposition.startswith("attachment")
            assert "/" not in disposition.split("filename", 1)[1]
            assert disposition.count('"') <= 2
        # The widget refuses anything but images and PDF outright.
        visitor = {"Authorization": f"Bearer {roles.tokens['visitor']}"}
        for data in (SVG, HTML):
            r = await http.post("/api/widget/attachments", headers=visitor,
                                files={"file": ("a.png", data, "image/png")})  # fmt: skip
            assert r.status_code == 415
        r = await http.post("/api/widget/attachments", headers=visitor, files={"file": ("a", PNG)})
        d = await http.get(r.json()["url"])
        assert d.headers["content-type"] == "image/png"
        assert d.headers["content-disposition"].startswith("inline")
        assert d.headers["x-content-type-options"] == "nosniff"


def test_platform_links_are_only_http_or_our_files() -> None:
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                "data:text/html,<script>alert(1)</script>", "//evil.example/x", "vbscript:x",
                "java\tscript:alert(1)", "file:///etc/passwd"):  # fmt: skip
        assert safe_link(bad) is None, bad
        assert Attachment(kind="file", url=bad).as_dict()["url"] is None
    for good in ("https://scontent.xx.fbcdn.net/v/a.jpg?x=1", "/api/files/abc", "http://x.test/"):
        assert safe_link(good) == good


# -- SSRF ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    paths: list[str] = []

    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        _Handler.paths.append(self.path)
        port = self.server.server_address[1]
        routes = {
            "/ok": (200, {}, b"fine"),
            "/big": (200, {}, b"x" * 5000),
            "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
            "/to-other-host": (302, {"Location": f"http://localhost:{port}/ok"}, b""),
            "/to-self": (302, {"Location": "/ok"}, b""),
        }
        if self.path.startswith("/slow"):
            time.sleep(3)
        status, headers, body = routes.get(self.path.split("?")[0], (200, {}, b"{}"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.paths = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_safe_fetch_refuses_internal_addresses_by_default(local_server: str) -> None:
    default = FetchPolicy.for_api("https://api.telegram.org", None)
    for url in ("http://127.0.0.1/", "https://127.0.0.1/", "https://169.254.169.254/latest/",
                "https://[::1]/", "https://[fe80::1]/", "https://10.0.0.1/", "https://0.0.0.0/",
                "https://[::ffff:127.0.0.1]/", "https://224.0.0.1/", "https://localhost/",
                "file:///etc/passwd", "/etc/passwd", "gopher://api.telegram.org/",
                "http://api.telegram.org/file", "https://user:pw@api.telegram.org/",
                f"{local_server}/ok"):  # fmt: skip
        with pytest.raises(UnsafeURL):
            await safe_fetch.fetch(url, default)
    # A host on the allow-list that resolves to a loopback address is refused too.
    loopback = FetchPolicy(hosts=frozenset({"localhost"}))
    with pytest.raises(UnsafeURL, match="non-public"):
        await loopback.resolve(httpx.URL("https://localhost/"))
    assert _Handler.paths == []


async def test_safe_fetch_with_a_configured_host_limits_redirects_size_and_time(
    local_server: str,
) -> None:
    policy = FetchPolicy.for_api("https://api.telegram.org", local_server, max_bytes=1000,
                                 timeout=1.0)  # fmt: skip
    assert await safe_fetch.fetch(f"{local_server}/ok", policy) == (b"fine", None)
    assert (await safe_fetch.fetch(f"{local_server}/to-self", policy))[0] == b"fine"
    with pytest.raises(UnsafeURL):
        await safe_fetch.fetch(f"{local_server}/to-metadata", policy)
    with pytest.raises(UnsafeURL):
        await safe_fetch.fetch(f"{local_server}/to-other-host", policy)
    with pytest.raises(TooLarge):
        await safe_fetch.fetch(f"{local_server}/big", policy)
    with pytest.raises(safe_fetch.FetchFailed):
        await safe_fetch.fetch(f"{local_server}/slow", policy)


async def test_telegram_never_reads_a_local_path_from_get_file(
    db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """python-telegram-bot reads a getFile `file_path` that exists on disk as a local file;
    a hostile or misconfigured Bot API server must not make us store our own files."""
    secret = tmp_path / "secret_key"
    secret.write_text("TOP-SECRET-KEY")
    world = await make_world(db)  # the files are stored for an inbox that exists
    fake = FakeTelegram("123:abc").start()
    try:
        fake.add_file("doc-1", b"", str(secret))
        fake.add_file("doc-2", b"%PDF-1.4 fine", "documents/file_2.pdf")
        connector = TelegramConnector(world.inbox_id, TelegramConfig(
            token=fake.token, webhook_secret="s", api_base_url=fake.url))  # fmt: skip
        files = FileStore(tmp_path / "files")
        items = []
        for n, file_id in ((1, "doc-1"), (2, "doc-2")):
            items += connector.parse({"update_id": n, "message": {
                "message_id": 900 + n, "date": 1_700_000_000,
                "chat": {"id": 77_000_000 + n, "type": "private"},
                "from": {"id": 77_000_000 + n, "is_bot": False, "first_name": "Eve"},
                "document": {"file_id": file_id, "file_unique_id": f"u{n}", "file_name": "a.pdf"},
            }})  # fmt: skip
        out = await preparation.prepare(connector, items, sessions=db, files=files,
                                        secret_key="k")  # fmt: skip
        hostile, fine = out[0].attachments[0], out[1].attachments[0]
        assert hostile.url is None and "not downloaded" in hostile.data["error"]
        assert fine.url and fine.url.startswith("/api/files/")
        stored = [p.read_bytes() for p in (tmp_path / "files").rglob("*") if p.is_file()]
        assert b"TOP-SECRET-KEY" not in b"".join(stored)
    finally:
        fake.stop()


async def test_meta_profiles_only_for_graph_ids_and_only_allowed_hosts(
    db: async_sessionmaker[AsyncSession], local_server: str
) -> None:
    from inbox.types import InboundMessage, Sender

    def item(sender: str) -> InboundMessage:
        return InboundMessage(channel=Channel.MESSENGER, inbox_id=1, external_id=f"m-{sender}",
                              sender=Sender(sender), text="hi", sent_at=None)  # type: ignore[arg-type]  # fmt: skip

    config = MetaConfig(channel=Channel.MESSENGER, account_id=None, app_secret="s",
                        verify_token=None, access_token="t", api_base_url=local_server)  # fmt: skip
    connector = MetaConnector(1, config)
    senders = ["7263549102", "../../me?fields=access_token", "1/../../x", "http://169.254.169.254/"]
    await preparation.prepare(connector, [item(s) for s in senders], sessions=db, files=None,
                              secret_key="k")  # fmt: skip
    assert [p.split("?")[0] for p in _Handler.paths] == ["/v23.0/7263549102"]
    # The same connector with Graph's default host can never be pointed at an internal one.
    blocked = MetaConnector(1, MetaConfig(channel=Channel.MESSENGER, account_id=None,
                                          app_secret="s", verify_token=None, access_token="t"))  # fmt: skip
    async with blocked._http() as http:
        with pytest.raises(UnsafeURL):
            await http.get(f"{local_server}/v23.0/1")
    await asyncio.sleep(0)
