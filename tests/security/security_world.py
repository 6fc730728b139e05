"""Two teams, every role, and team A's resources: what the security tests attack.

Team A owns a website inbox; a visitor of it has written, so team A has a conversation,
a message, a contact and an uploaded file. Team B has its own inbox and agent. A lead,
an admin and a marketing user belong to no team. A second visitor of team A's inbox
has a token of their own and no conversation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx
from conftest import Services, World, make_world
from crocevia_clients import Clients, VisitorClient, login
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from inbox.model import Agent, Conversation

AGENT_ROLES = ("agent_a", "agent_b", "lead", "admin", "marketing")
ROLES = (*AGENT_ROLES, "anonymous", "visitor")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Roles:
    a: World
    b: World
    tokens: dict[str, str | None]  # role -> bearer token; None for anonymous
    logins: dict[str, tuple[str, str]]  # agent role -> (email, password)
    owner: VisitorClient  # the visitor who wrote to team A
    conv_id: int
    message_id: int
    contact_id: int
    file_id: str
    other_contact_id: int  # the second visitor's contact

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens[role]
        return {"Authorization": f"Bearer {token}"} if token else {}


async def make_agent(
    db: async_sessionmaker[AsyncSession], role: str, tag: str
) -> tuple[int, str, str]:
    password = secrets.token_urlsafe(10)
    async with db() as session, session.begin():
        agent = Agent(
            email=f"{role}-{tag}@example.test", name=role.title(), role=role,
            password_hash=hash_password(password), presence="offline",
        )  # fmt: skip
        session.add(agent)
        await session.flush()
        return agent.id, agent.email, password


async def make_roles(
    services: Services, db: async_sessionmaker[AsyncSession], clients: Clients
) -> Roles:
    a = await make_world(db, agents=("anna",))
    b = await make_world(db, agents=("bruno",))
    tag = secrets.token_hex(4)
    logins = {"agent_a": a.agents["anna"][1:], "agent_b": b.agents["bruno"][1:]}
    for role in ("lead", "admin", "marketing"):
        _id, email, password = await make_agent(db, role, tag)
        logins[role] = (email, password)
    tokens: dict[str, str | None] = {
        role: await login(services.base_url, email, password)
        for role, (email, password) in logins.items()
    }
    owner = await clients.visitor(a.website_token, name="Owner Olga")
    await owner.connect()
    ack = await owner.say("my order 1234 is late")
    assert ack["type"] == "ack", ack
    r = await owner.http.post("/api/widget/attachments", files={"file": ("p.png", PNG)})
    assert r.status_code == 201, r.text
    other = await clients.visitor(a.website_token, name="Other Otto")
    tokens["anonymous"] = None
    tokens["visitor"] = other.session["visitor_token"]
    conv_id = ack["message"]["conversation_id"]
    async with db() as session:
        conv = await session.get_one(Conversation, conv_id)
        assert conv.team_id == a.team_id
        contact_id = conv.contact_id
    async with httpx.AsyncClient(base_url=services.base_url, headers=owner_headers(other)) as h:
        assert (await h.post("/api/widget/contact", json={"name": "Other Otto"})).status_code == 200
    from gateway.visitor_tokens import verify

    other_visitor = verify(services.secret_key, other.session["visitor_token"])
    assert other_visitor is not None
    return Roles(a, b, tokens, logins, owner, conv_id, ack["message"]["id"], contact_id,
                 r.json()["id"], other_visitor.contact_id)  # fmt: skip


def owner_headers(visitor: VisitorClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {visitor.session['visitor_token']}"}
