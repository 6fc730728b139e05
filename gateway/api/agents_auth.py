"""`/api/auth/*` and `/api/me`: logging in and out, who am I, presence."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from redis.exceptions import RedisError
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from gateway import auth, limits
from gateway.api.errors import ApiError, field, json_body
from gateway.runtime import Runtime, runtime
from inbox import events, routing
from inbox.access import Viewer
from inbox.model import Agent, Outbox, Presence, Role
from inbox.serialize import agent_public_dict

log = logging.getLogger("crocevia.auth")


def agent_dict(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "email": agent.email,
        "role": agent.role,
        "language": agent.language,
        "timezone": agent.timezone,
        "presence": agent.presence,
        "teams": [{"id": t.id, "name": t.name} for t in agent.teams],
    }


def client_ip(conn: HTTPConnection) -> str:
    """The peer address (behind a proxy, run uvicorn with --proxy-headers)."""
    return conn.client.host if conn.client else "unknown"


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def require_agent(request: Request) -> tuple[Agent, Viewer]:
    token = bearer(request)
    if token is None:
        raise ApiError(
            401, "unauthorized", "send Authorization: Bearer <token> from /api/auth/login"
        )
    async with runtime(request).sessions() as session:
        agent = await auth.agent_for_token(session, token)
    if agent is None:
        raise ApiError(401, "unauthorized", "the token is unknown, expired or revoked")
    return agent, Viewer.of(agent)


async def require_admin(request: Request) -> tuple[Agent, Viewer]:
    """The agent behind the request, who must be an admin (settings pages and API)."""
    agent, viewer = await require_agent(request)
    if viewer.role != Role.ADMIN:
        raise ApiError(403, "forbidden", "only admins change settings")
    return agent, viewer


async def login(request: Request) -> Response:
    data = await json_body(request)
    email = field(data, "email", str)
    password = field(data, "password", str)
    rt = runtime(request)
    who = email.strip().lower()
    await limits.hit(rt.redis, limits.LOGIN_PER_IP, client_ip(request))
    await limits.hit(rt.redis, limits.FAILED_LOGIN_PER_EMAIL, who, count_it=False)
    async with rt.sessions() as session, session.begin():
        found = await auth.login(session, email, password, rt.settings.session_hours)
        if found is None:
            await limits.hit(rt.redis, limits.FAILED_LOGIN_PER_EMAIL, who)
            raise ApiError(401, "bad_credentials", "wrong email or password")
        agent, token, row = found
        body = {
            "token": token,
            "expires_at": row.expires_at.isoformat(),
            "agent": agent_dict(agent),
        }
    return JSONResponse(body)


async def logout(request: Request) -> Response:
    agent, _ = await require_agent(request)
    token = bearer(request)
    assert token is not None
    rt = runtime(request)
    async with rt.sessions() as session, session.begin():
        await auth.logout(session, token)
    # Every gateway's sockets of this agent check their session again: this one closes.
    await revoked(rt, agent.id)
    return JSONResponse({})


async def revoked(rt: Runtime, agent_id: int) -> None:
    """Tell the agent's open sockets, on every gateway, to check their session now."""
    try:
        await rt.hub.publish_control({"revoked_agent_id": agent_id})
    except (RedisError, OSError) as exc:  # they still check every RECHECK_S seconds
        log.warning("revocation_not_published", extra={"agent": agent_id, "error": repr(exc)})


async def me(request: Request) -> Response:
    agent, _ = await require_agent(request)
    return JSONResponse(agent_dict(agent))


LANGUAGES = ("it", "en")


async def update_me(request: Request) -> Response:
    """The agent's own settings: presence, console language and time zone."""
    agent, _ = await require_agent(request)
    data = await json_body(request)
    presence = field(data, "presence", str, required=False)
    language = field(data, "language", str, required=False)
    timezone = field(data, "timezone", str, required=False)
    if presence is not None and presence not in {p.value for p in Presence}:
        raise ApiError(400, "invalid_field", "presence must be online, busy or offline")
    if language is not None and language not in LANGUAGES:
        raise ApiError(400, "invalid_field", f"language must be one of {', '.join(LANGUAGES)}")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ApiError(400, "invalid_field", f"unknown time zone {timezone!r}") from None
    rt = runtime(request)
    outbox: list[Outbox] = []
    async with rt.sessions() as session, session.begin():
        row = await session.get_one(Agent, agent.id)
        row.language = language or row.language
        row.timezone = timezone or row.timezone
        if presence == Presence.OFFLINE and row.presence != presence:
            await routing.go_offline(session, row, outbox)  # and back to the queue
        elif presence is not None and presence != row.presence:
            row.presence = presence
            outbox.append(events.emit(session, "agent.updated", {"agent": agent_public_dict(row)}))
        body = agent_dict(row)
    await rt.relay.publish_quietly(outbox)
    return JSONResponse(body)


async def set_presence(request: Request) -> Response:
    """PUT /api/me/presence {"presence": ...}: the short form of PATCH /api/me."""
    return await update_me(request)
