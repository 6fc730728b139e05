"""Who may call what: every HTTP route of `gateway.app.api_routes()` against every role.

The rule table below has one row per (method, path). A route added without a row fails
`test_every_route_has_a_rule`, so no endpoint ships without a decision on who may use
it. Resources are team A's (conversation, message, contact, file); ids are real, so a
refusal is the access rule at work, never a missing row (no IDOR by guessing ids).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import Services
from crocevia_clients import Clients, login
from security_world import AGENT_ROLES, PNG, ROLES, Roles, make_roles
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Route
from websockets.asyncio.client import connect

from gateway.app import api_routes
from inbox.model import Contact, Conversation, Identity

pytestmark = pytest.mark.timeout(120)

Request = tuple[str, dict[str, Any]]  # url, httpx keyword arguments
Build = Callable[[Roles], Request]


def statuses(
    *, a: int, b: int, lead: int, admin: int, marketing: int, anonymous: int = 401,
    visitor: int = 401,
) -> dict[str, int]:  # fmt: skip
    return {"agent_a": a, "agent_b": b, "lead": lead, "admin": admin, "marketing": marketing,
            "anonymous": anonymous, "visitor": visitor}  # fmt: skip


def everyone(code: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, code)


def any_agent(code: int) -> dict[str, int]:
    return statuses(a=code, b=code, lead=code, admin=code, marketing=code)


def team_a(code: int) -> dict[str, int]:
    """Team A's resources: its agent, leads and admins; team B and marketing see nothing."""
    return statuses(a=code, b=404, lead=code, admin=code, marketing=404)


LEADS = statuses(a=403, b=403, lead=200, admin=200, marketing=403)
ADMINS = statuses(a=403, b=403, lead=403, admin=200, marketing=403)
SIGNALS = statuses(a=403, b=403, lead=200, admin=200, marketing=200)
SIGNALS_404 = statuses(a=403, b=403, lead=404, admin=404, marketing=404)


def visitor_only(code: int) -> dict[str, int]:
    return {**everyone(401), "visitor": code}


def _get(url: str) -> Build:
    return lambda r: (url.format(r=r), {})


def _json(url: str, body: Callable[[Roles], Any]) -> Build:
    return lambda r: (url.format(r=r), {"json": body(r)})


def _upload(url: str) -> Build:
    return lambda r: (url.format(r=r), {"files": {"file": ("p.png", PNG)}})


# (method, path) -> (request, expected status per role)
RULES: dict[tuple[str, str], tuple[Build, dict[str, int]]] = {
    ("GET", "/api/openapi.json"): (_get("/api/openapi.json"), everyone(200)),
    ("POST", "/api/auth/login"): (
        _json(
            "/api/auth/login",
            lambda r: {"email": f"nobody-{uuid.uuid4().hex}@example.test", "password": "wrong"},
        ),  # fmt: skip
        everyone(401),
    ),
    ("POST", "/api/auth/logout"): (_json("/api/auth/logout", lambda r: {}), any_agent(200)),
    ("GET", "/api/me"): (_get("/api/me"), any_agent(200)),
    ("PATCH", "/api/me"): (_json("/api/me", lambda r: {"language": "en"}), any_agent(200)),
    ("PUT", "/api/me/presence"): (
        _json("/api/me/presence", lambda r: {"presence": "busy"}),
        any_agent(200),
    ),
    ("GET", "/api/conversations"): (_get("/api/conversations?status=any"), any_agent(200)),
    ("PATCH", "/api/conversations/{id}"): (
        _json("/api/conversations/{r.conv_id}", lambda r: {"priority": "high"}),
        team_a(200),
    ),
    ("GET", "/api/conversations/{id}/messages"): (
        _get("/api/conversations/{r.conv_id}/messages"),
        team_a(200),
    ),
    ("POST", "/api/conversations/{id}/messages"): (
        _json(
            "/api/conversations/{r.conv_id}/messages",
            lambda r: {"text": "internal note", "client_id": str(uuid.uuid4()), "private": True},
        ),
        team_a(201),
    ),  # fmt: skip
    ("POST", "/api/conversations/{id}/read"): (
        _json("/api/conversations/{r.conv_id}/read", lambda r: {}),
        team_a(200),
    ),
    # An inbound message cannot be retried (409), but only those who see it learn that.
    ("POST", "/api/messages/{id}/retry"): (
        _json("/api/messages/{r.message_id}/retry", lambda r: {}),
        team_a(409),
    ),
    ("GET", "/api/inboxes"): (_get("/api/inboxes"), any_agent(200)),
    ("POST", "/api/conversations/bulk"): (
        _json("/api/conversations/bulk", lambda r: {"ids": [r.conv_id], "priority": "high"}),
        statuses(a=200, b=200, lead=200, admin=200, marketing=200),  # refusals are per id
    ),
    ("GET", "/api/mentions"): (_get("/api/mentions"), any_agent(200)),
    ("GET", "/api/search"): (
        _get("/api/search?q=ordine"),
        statuses(a=200, b=200, lead=200, admin=200, marketing=403),
    ),
    ("GET", "/api/agents"): (_get("/api/agents"), any_agent(200)),
    ("GET", "/api/teams"): (_get("/api/teams"), any_agent(200)),
    ("GET", "/api/canned_responses"): (_get("/api/canned_responses"), any_agent(200)),
    ("POST", "/api/canned_responses"): (
        _json(
            "/api/canned_responses",
            lambda r: {"short_code": f"sec-{uuid.uuid4().hex[:12]}", "text": "hello"},
        ),
        statuses(a=403, b=403, lead=201, admin=201, marketing=403),
    ),  # fmt: skip
    # 403 before any lookup: an agent learns nothing about which ids exist.
    ("DELETE", "/api/canned_responses/{id}"): (
        _get("/api/canned_responses/999999999"),
        statuses(a=403, b=403, lead=404, admin=404, marketing=403),
    ),
    ("GET", "/api/labels"): (_get("/api/labels"), any_agent(200)),
    ("POST", "/api/labels"): (
        _json("/api/labels", lambda r: {"name": f"m-{uuid.uuid4().hex[:8]}", "colour": "#0b6e4f"}),
        statuses(a=403, b=403, lead=201, admin=201, marketing=403),
    ),
    ("PATCH", "/api/labels/{id}"): (
        _json("/api/labels/999999999", lambda r: {"colour": "#111111"}),
        statuses(a=403, b=403, lead=404, admin=404, marketing=403),
    ),
    ("DELETE", "/api/labels/{id}"): (
        _get("/api/labels/999999999"),
        statuses(a=403, b=403, lead=404, admin=404, marketing=403),
    ),
    ("GET", "/api/contacts/{id}"): (_get("/api/contacts/{r.contact_id}"), team_a(200)),
    # Contact tools: marketing works through segments, never on single contacts (403).
    # Merges, undo and erasure are aimed at ids that do not exist: the rule is tested
    # without destroying the fixture's data.
    ("PATCH", "/api/contacts/{id}"): (
        _json("/api/contacts/{r.contact_id}", lambda r: {"name": "Owner Olga"}),
        statuses(a=200, b=404, lead=200, admin=200, marketing=403),
    ),
    ("GET", "/api/contacts/{id}/notes"): (
        _get("/api/contacts/{r.contact_id}/notes"),
        statuses(a=200, b=404, lead=200, admin=200, marketing=403),
    ),
    ("POST", "/api/contacts/{id}/notes"): (
        _json("/api/contacts/{r.contact_id}/notes", lambda r: {"text": "Preferisce l'email"}),
        statuses(a=201, b=404, lead=201, admin=201, marketing=403),
    ),
    ("GET", "/api/contacts/{id}/merge_suggestions"): (
        _get("/api/contacts/{r.contact_id}/merge_suggestions"),
        statuses(a=200, b=404, lead=200, admin=200, marketing=403),
    ),
    ("POST", "/api/contacts/{id}/merge"): (
        _json("/api/contacts/{r.contact_id}/merge", lambda r: {"other_id": 999_999_999}),
        statuses(a=404, b=404, lead=404, admin=404, marketing=403),
    ),
    ("POST", "/api/contact_merges/{id}/undo"): (
        _json("/api/contact_merges/999999999/undo", lambda r: {}),
        statuses(a=404, b=404, lead=404, admin=404, marketing=403),
    ),
    ("GET", "/api/contacts/{id}/export"): (
        _get("/api/contacts/{r.contact_id}/export"),
        {**ADMINS, "admin": 200},
    ),
    ("POST", "/api/contacts/{id}/erase"): (
        _json("/api/contacts/999999999/erase", lambda r: {}),
        {**ADMINS, "admin": 404},
    ),
    # Settings: admins only.
    ("GET", "/api/admin/inboxes"): (_get("/api/admin/inboxes"), ADMINS),
    ("POST", "/api/admin/inboxes"): (
        _json("/api/admin/inboxes", lambda r: {"name": "Matrice", "channel": "website"}),
        {**ADMINS, "admin": 201},
    ),
    ("PATCH", "/api/admin/inboxes/{id}"): (
        _json("/api/admin/inboxes/{r.a.inbox_id}", lambda r: {"settings": {"greeting": "Ciao"}}),
        ADMINS,
    ),
    ("POST", "/api/admin/inboxes/{id}/telegram_webhook"): (
        _json("/api/admin/inboxes/{r.a.inbox_id}/telegram_webhook", lambda r: {}),
        {**ADMINS, "admin": 404},  # a website inbox has no webhook to set
    ),
    ("POST", "/api/admin/inboxes/{id}/email_check"): (
        _json("/api/admin/inboxes/{r.a.inbox_id}/email_check", lambda r: {}),
        {**ADMINS, "admin": 404},
    ),
    ("GET", "/api/admin/teams"): (_get("/api/admin/teams"), ADMINS),
    ("POST", "/api/admin/teams"): (
        _json("/api/admin/teams", lambda r: {"name": f"matrice {uuid.uuid4().hex[:8]}"}),
        {**ADMINS, "admin": 201},
    ),
    ("PATCH", "/api/admin/teams/{id}"): (
        _json("/api/admin/teams/{r.a.team_id}", lambda r: {"routing_policy": "manual"}),
        ADMINS,
    ),
    ("GET", "/api/admin/agents"): (_get("/api/admin/agents"), ADMINS),
    ("POST", "/api/admin/agents"): (
        _json(
            "/api/admin/agents",
            lambda r: {"email": f"m-{uuid.uuid4().hex[:8]}@example.test", "name": "M"},
        ),
        {**ADMINS, "admin": 201},
    ),  # fmt: skip
    ("PATCH", "/api/admin/agents/{id}"): (
        _json("/api/admin/agents/{r.a.agents[anna][0]}", lambda r: {"capacity": 5}),
        ADMINS,
    ),
    ("GET", "/api/admin/webhooks"): (_get("/api/admin/webhooks"), ADMINS),
    ("POST", "/api/admin/webhooks"): (  # paused: a dead URL must not collect deliveries
        _json(
            "/api/admin/webhooks",
            lambda r: {"url": "http://127.0.0.1:9/", "events": [], "active": False},
        ),
        {**ADMINS, "admin": 201},
    ),  # fmt: skip
    ("PATCH", "/api/admin/webhooks/{id}"): (
        _json("/api/admin/webhooks/999999999", lambda r: {"description": "x"}),
        {**ADMINS, "admin": 404},
    ),
    ("DELETE", "/api/admin/webhooks/{id}"): (
        _get("/api/admin/webhooks/999999999"),
        {**ADMINS, "admin": 404},
    ),
    ("GET", "/api/admin/webhooks/{id}/deliveries"): (
        _get("/api/admin/webhooks/999999999/deliveries"),
        {**ADMINS, "admin": 404},
    ),
    ("POST", "/api/admin/webhooks/{id}/deliveries/{delivery}/redeliver"): (
        _json("/api/admin/webhooks/999999999/deliveries/1/redeliver", lambda r: {}),
        {**ADMINS, "admin": 404},
    ),
    # Signals and segments: marketing, leads and admins; agents never.
    ("GET", "/api/segments"): (_get("/api/segments"), SIGNALS),
    ("POST", "/api/segments"): (
        _json(
            "/api/segments",
            lambda r: {"name": f"sec {uuid.uuid4().hex[:10]}", "rules": {"all": []}},
        ),
        {**SIGNALS, "lead": 201, "admin": 201, "marketing": 201},
    ),  # fmt: skip
    ("GET", "/api/segments/{id}"): (_get("/api/segments/999999999"), SIGNALS_404),
    ("DELETE", "/api/segments/{id}"): (_get("/api/segments/999999999"), SIGNALS_404),
    ("PATCH", "/api/segments/{id}"): (
        _json("/api/segments/999999999", lambda r: {"name": "x"}),
        SIGNALS_404,
    ),
    ("GET", "/api/segments/{id}/members"): (_get("/api/segments/999999999/members"), SIGNALS_404),
    ("GET", "/api/signals/export"): (_get("/api/signals/export"), SIGNALS),
    ("GET", "/api/marketing/overview"): (_get("/api/marketing/overview"), SIGNALS),
    ("GET", "/api/reports/summary"): (_get("/api/reports/summary"), LEADS),
    ("GET", "/api/reports/summary.csv"): (_get("/api/reports/summary.csv"), LEADS),
    ("GET", "/api/reports/heatmap"): (_get("/api/reports/heatmap"), LEADS),
    ("GET", "/api/live"): (_get("/api/live"), LEADS),
    ("GET", "/api/audit"): (
        _get("/api/audit"),
        statuses(a=403, b=403, lead=403, admin=200, marketing=403),
    ),
    # Public: a bearer token of any kind changes nothing.
    ("POST", "/api/widget/sessions"): (
        _json("/api/widget/sessions", lambda r: {"website_token": r.a.website_token}),
        everyone(200),
    ),
    ("GET", "/api/widget/messages"): (_get("/api/widget/messages"), visitor_only(200)),
    ("POST", "/api/widget/contact"): (
        _json("/api/widget/contact", lambda r: {"name": "Otto"}),
        visitor_only(200),
    ),
    ("POST", "/api/widget/identify"): (
        _json("/api/widget/identify", lambda r: {"id": "shop-user-1", "hash": "00" * 32}),
        visitor_only(403),
    ),
    # The second visitor has no conversation to rate.
    ("POST", "/api/widget/csat"): (
        _json("/api/widget/csat", lambda r: {"rating": 5}),
        visitor_only(404),
    ),  # fmt: skip
    ("POST", "/api/widget/attachments"): (_upload("/api/widget/attachments"), visitor_only(201)),
    ("POST", "/api/attachments"): (_upload("/api/attachments"), any_agent(201)),
    # A file id is a 128-bit random capability (the console and widget load files in
    # <img>/<a> without headers): whoever holds the id may download; nobody can guess one
    # (test_file_ids_cannot_be_guessed).
    ("GET", "/api/files/{id}"): (_get("/api/files/{r.file_id}"), everyone(200)),
    # Webhooks are verified by the platform's signature, not by bearer tokens; team A's
    # website inbox has no Telegram webhook.
    ("POST", "/webhooks/{channel}/{inbox}"): (
        _json("/webhooks/telegram/{r.a.inbox_id}", lambda r: {"update_id": 1}),
        everyone(404),
    ),
    ("GET", "/webhooks/{channel}/{inbox}"): (_get("/webhooks/meta/{r.a.inbox_id}"), everyone(404)),
}


def route_keys() -> list[tuple[str, str]]:
    keys = []
    for route in api_routes():
        assert isinstance(route, Route)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                keys.append((method, route.path))
    return keys


def test_every_route_has_a_rule() -> None:
    missing = [k for k in route_keys() if k not in RULES]
    assert not missing, f"routes without an access rule in {__name__}.RULES: {missing}"
    stale = [k for k in RULES if k not in route_keys()]
    assert not stale, f"rules for routes that no longer exist: {stale}"


@pytest.fixture
async def roles(
    services: Services, db: async_sessionmaker[AsyncSession], clients: Clients
) -> Roles:
    return await make_roles(services, db, clients)


async def test_roles_matrix(services: Services, roles: Roles) -> None:
    wrong: list[str] = []
    calls = 0
    async with httpx.AsyncClient(base_url=services.base_url, timeout=30) as http:
        for method, path in route_keys():
            build, expected = RULES[(method, path)]
            for role in ROLES:
                headers = roles.headers(role)
                if path == "/api/auth/logout" and role in AGENT_ROLES:
                    # A token of its own: the shared one is needed for the other routes.
                    token = await login(services.base_url, *roles.logins[role])
                    headers = {"Authorization": f"Bearer {token}"}
                url, kwargs = build(roles)
                r = await http.request(method, url, headers=headers, **kwargs)
                calls += 1
                if r.status_code != expected[role]:
                    wrong.append(f"{method} {path} as {role}: {r.status_code}, "
                                 f"expected {expected[role]}: {r.text[:160]}")  # fmt: skip
                elif r.status_code >= 500:
                    wrong.append(f"{method} {path} as {role}: server error")
    print(f"roles matrix: {calls} requests over {len(route_keys())} routes x {len(ROLES)} roles")
    assert not wrong, "\n".join(wrong)


async def test_lists_and_bodies_follow_the_roles(services: Services, roles: Roles) -> None:
    """Status codes are not enough: what a 200 contains must follow the same rule."""
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        for role in AGENT_ROLES:
            r = await http.get("/api/conversations", params={"status": "any", "limit": 500},
                               headers=roles.headers(role))  # fmt: skip
            ids = {c["id"] for c in r.json()["conversations"]}
            sees = role in ("agent_a", "lead", "admin")
            assert (roles.conv_id in ids) is sees, role
            if role == "marketing":
                assert ids == set(), "marketing reads no conversations or message bodies"
            r = await http.get(f"/api/conversations?inbox_id={roles.a.inbox_id}&status=any",
                               headers=roles.headers(role))  # fmt: skip
            assert (roles.conv_id in {c["id"] for c in r.json()["conversations"]}) is sees
            body = (await http.get(f"/api/contacts/{roles.contact_id}",
                                   headers=roles.headers(role))).text  # fmt: skip
            assert ("my order 1234" in body or "Owner Olga" in body) is sees or not sees
            assert ("Owner Olga" in body) is sees, role
        # The second visitor sees nothing of the first one's conversation.
        r = await http.get("/api/widget/messages", headers=roles.headers("visitor"))
        assert r.json()["conversation_id"] in (None,) and r.json()["messages"] == []
        assert "my order 1234" not in r.text


async def test_agent_socket_events_follow_the_roles(
    services: Services, roles: Roles, clients: Clients
) -> None:
    """Team B's agent and marketing, connected to /ws/agent, receive nothing of team A's
    conversation while team A's agent does; a visitor of the same inbox hears nothing."""
    from crocevia_clients import AgentClient

    sockets: dict[str, AgentClient] = {}
    for role in ("agent_a", "agent_b", "marketing", "admin"):
        token = roles.tokens[role]
        assert token is not None
        client = AgentClient(services.base_url, services.ws_url, token)
        clients.made.append(client)
        await client.connect()
        sockets[role] = client
    other = clients.tab(await clients.visitor(roles.a.website_token))
    await other.connect()
    ack = await roles.owner.say("second message, secret code 9876")
    assert ack["type"] == "ack"
    conv = roles.conv_id

    def about_conv(frame: dict[str, Any]) -> bool:
        # By the frame's structure: a substring test would also match timestamps and tokens.
        if frame.get("type") != "event":
            return False
        data = frame.get("data") or {}
        message = data.get("message") or {}
        return (data.get("conversation") or {}).get("id") == conv or (
            message.get("conversation_id") == conv
            or "secret code 9876" in (message.get("text") or "")
        )

    for role in ("agent_a", "admin"):
        await sockets[role].wait_for(about_conv, timeout=10)
    # Typing and a note from team A's agent: also invisible to the others.
    await sockets["agent_a"].send({"type": "typing", "conversation_id": conv, "on": True})
    reply = await sockets["agent_a"].reply(conv, "a private note 5555", private=True)
    assert reply["type"] == "ack"
    # Team B's agent cannot subscribe its way in either: typing and replies are refused.
    await sockets["agent_b"].send({"type": "typing", "conversation_id": conv, "on": True})
    refused = await sockets["agent_b"].reply(conv, "let me in")
    assert refused["type"] == "error" and refused["code"] == "not_found"
    for role in ("agent_b", "marketing"):
        leaked = [f for f in await sockets[role].quiet(1.5) if about_conv(f) or
                  f.get("conversation_id") == conv]  # fmt: skip
        assert leaked == [], f"{role} received team A's events: {leaked}"

    def note_text(f: dict[str, Any]) -> str:
        return str(((f.get("data") or {}).get("message") or {}).get("text") or "")

    leaked = [f for f in await other.quiet(0.5) if about_conv(f) or "5555" in note_text(f)
              or f.get("conversation_id") == conv]  # fmt: skip
    assert leaked == [], leaked
    # Resuming from an old event id replays only what the role may see.
    async with connect(services.ws_url + "/ws/agent") as ws:
        await ws.send(json.dumps({"type": "auth", "token": roles.tokens["agent_b"],
                                  "last_event_id": "0-0"}))  # fmt: skip
        frames = []
        try:
            while True:
                import asyncio

                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 1.5)))
        except TimeoutError:
            pass
    assert not [f for f in frames if about_conv(f)]  # (other tests' worlds may say the same)


async def test_owner_fields_in_bodies_move_nothing(
    services: Services, roles: Roles, db: async_sessionmaker[AsyncSession]
) -> None:
    """GHSA-x288-jh8j-348c: ids of another tenant in a request body move no data.

    Rule: an agent may transfer a conversation it sees to any team (as in Chatwoot) and
    assign it; inbox_id, contact_id and channel are never writable (400). Team B's agent
    cannot touch team A's conversation at all (404, whatever the body)."""
    conv_url = f"/api/conversations/{roles.conv_id}"
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        for field, value in (("inbox_id", roles.b.inbox_id), ("contact_id", roles.other_contact_id),
                             ("channel", "email"), ("id", 1)):  # fmt: skip
            r = await http.patch(conv_url, json={field: value, "priority": "low"},
                                 headers=roles.headers("agent_a"))  # fmt: skip
            assert r.status_code == 400 and r.json()["error"]["code"] == "read_only_field", r.text
        for body in ({"team_id": roles.b.team_id}, {"assignee_id": roles.b.agents["bruno"][0]},
                     {"status": "resolved"}, {"priority": "low", "labels": ["x"]}):  # fmt: skip
            r = await http.patch(conv_url, json=body, headers=roles.headers("agent_b"))
            assert r.status_code == 404, (body, r.text)
        r = await http.patch(conv_url, json={"team_id": 999_999_999},
                             headers=roles.headers("agent_a"))  # fmt: skip
        assert r.status_code == 400
        async with db() as session:
            conv = await session.get_one(Conversation, roles.conv_id)
            assert (conv.inbox_id, conv.contact_id, conv.team_id, conv.channel) == (
                roles.a.inbox_id,
                roles.contact_id,
                roles.a.team_id,
                "website",
            )
            assert conv.priority != "low"
        # A transfer by team A's agent is allowed; afterwards team A's agent no longer sees it.
        r = await http.patch(conv_url, json={"team_id": roles.b.team_id},
                             headers=roles.headers("agent_a"))  # fmt: skip
        assert r.status_code == 200 and r.json()["team_id"] == roles.b.team_id
        assert r.json()["assignee_id"] is None
        r = await http.get(f"{conv_url}/messages", headers=roles.headers("agent_a"))
        assert r.status_code == 404
        r = await http.get(f"{conv_url}/messages", headers=roles.headers("agent_b"))
        assert r.status_code == 200


async def test_visitor_bodies_cannot_link_other_contacts(
    services: Services, roles: Roles, db: async_sessionmaker[AsyncSession]
) -> None:
    """/api/widget/contact and /identify change only the caller's own contact; a
    contact id in the body is ignored and identify needs the site's HMAC."""
    other = roles.headers("visitor")
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post("/api/widget/contact", headers=other,
                            json={"contact_id": roles.contact_id, "name": "Mallory",
                                  "email": "mallory@example.test"})  # fmt: skip
        assert r.status_code == 200
        for body in (
            {"id": "victim", "hash": "0" * 64, "contact_id": roles.contact_id},
            {"id": str(roles.contact_id), "hash": "", "contact_id": roles.contact_id},
            {"id": "victim", "hash": "' OR 1=1 --"},
        ):
            r = await http.post("/api/widget/identify", headers=other, json=body)
            assert r.status_code in (400, 403), r.text
        # A visitor token edited to name another contact is refused.
        token = str(roles.tokens["visitor"])
        head, payload, sig = token.split(".")
        import base64

        raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        raw["c"] = roles.contact_id
        forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).rstrip(b"=").decode()
        r = await http.get("/api/widget/messages",
                           headers={"Authorization": f"Bearer {head}.{forged}.{sig}"})  # fmt: skip
        assert r.status_code == 401
    async with db() as session:
        owner = await session.get_one(Contact, roles.contact_id)
        assert owner.name == "Owner Olga" and owner.email is None
        assert owner.merged_into_id is None
        mallory = await session.get_one(Contact, roles.other_contact_id)
        assert mallory.name == "Mallory"
        linked = (await session.execute(
            select(Identity).where(Identity.external_id.like("user:%"),
                                   Identity.contact_id == roles.contact_id))).all()  # fmt: skip
        assert linked == []


async def test_file_ids_cannot_be_guessed(services: Services, roles: Roles) -> None:
    assert len(roles.file_id) == 32 and int(roles.file_id, 16) >= 0  # 128 random bits
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        for guess in ("1", "0" * 32, roles.file_id[:-1] + ("0" if roles.file_id[-1] != "0" else "1"),
                      "../" * 5 + "etc/passwd", "%2e%2e%2fsecret_key", roles.file_id.upper()):  # fmt: skip
            r = await http.get(f"/api/files/{guess}")
            assert r.status_code == 404, guess
