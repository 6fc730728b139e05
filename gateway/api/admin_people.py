"""Admins' people settings: teams (name, routing policy) and agents (invite with a first
password shown once, role, teams, languages, capacity, deactivate). Every change is
audited; deactivating an agent or changing their role or teams closes their sockets."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_admin, revoked
from gateway.api.conversations import _path_id
from gateway.api.errors import ApiError, json_body
from gateway.auth import hash_password
from gateway.runtime import runtime
from inbox import audit
from inbox.model import Agent, AgentSession, Role, RoutingPolicy, Team, agent_teams, utcnow

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,253}\.[A-Za-z]{2,63}")
LANGUAGES = ("it", "en", "es", "fr", "de", "pt")


def team_dict(team: Team, members: int = 0) -> dict[str, Any]:
    return {"id": team.id, "name": team.name, "routing_policy": team.routing_policy,
            "members": members}  # fmt: skip


def admin_agent_dict(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id, "email": agent.email, "name": agent.name, "role": agent.role,
        "language": agent.language, "languages": [x for x in agent.languages.split(",") if x],
        "capacity": agent.capacity, "active": agent.active, "presence": agent.presence,
        "team_ids": sorted(t.id for t in agent.teams),
    }  # fmt: skip


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ApiError(400, "invalid_field", f"{key}: 1 to {limit} characters")
    return value.strip()


def _policy(value: Any) -> str:
    options = [p.value for p in RoutingPolicy]
    if value not in options:
        raise ApiError(400, "invalid_field", f"routing_policy: one of {', '.join(options)}")
    return str(value)


async def list_teams(request: Request) -> Response:
    await require_admin(request)
    async with runtime(request).sessions() as session:
        teams = (await session.execute(select(Team).order_by(Team.name))).scalars().all()
        counts: dict[int, int] = dict(
            (await session.execute(
                select(agent_teams.c.team_id, func.count()).group_by(agent_teams.c.team_id)
            )).tuples().all()
        )  # fmt: skip
        body = [team_dict(t, counts.get(t.id, 0)) for t in teams]
    return JSONResponse(body)


async def _name_free(session: AsyncSession, name: str, but: int | None = None) -> None:
    taken = await session.scalar(select(Team.id).where(func.lower(Team.name) == name.lower()))
    if taken is not None and taken != but:
        raise ApiError(409, "conflict", f"a team named {name!r} exists already")


async def create_team(request: Request) -> Response:
    admin, _viewer = await require_admin(request)
    data = await json_body(request)
    name = _text(data, "name", 120)
    policy = _policy(data.get("routing_policy", RoutingPolicy.ROUND_ROBIN.value))
    async with runtime(request).sessions() as session, session.begin():
        await _name_free(session, name)
        team = Team(name=name, routing_policy=policy)
        session.add(team)
        await session.flush()
        audit.record(session, admin.id, "team.created", "team", team.id, name=name)
        body = team_dict(team)
    return JSONResponse(body, 201)


async def patch_team(request: Request) -> Response:
    admin, _viewer = await require_admin(request)
    data = await json_body(request)
    async with runtime(request).sessions() as session, session.begin():
        team = await session.get(Team, _path_id(request))
        if team is None:
            raise ApiError(404, "not_found", "no such team")
        if "name" in data:
            team.name = _text(data, "name", 120)
            await _name_free(session, team.name, but=team.id)
        if "routing_policy" in data:
            team.routing_policy = _policy(data["routing_policy"])
        audit.record(session, admin.id, "team.updated", "team", team.id,
                     changed=sorted(k for k in data if k in ("name", "routing_policy")))  # fmt: skip
        body = team_dict(team)
    return JSONResponse(body)


async def list_agents(request: Request) -> Response:
    await require_admin(request)
    async with runtime(request).sessions() as session:
        rows = (await session.execute(select(Agent).order_by(Agent.name))).scalars()
        body = [admin_agent_dict(a) for a in rows]
    return JSONResponse(body)


async def _teams(session: AsyncSession, value: Any) -> list[Team]:
    if (
        not isinstance(value, list)
        or len(value) > 100
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ApiError(400, "invalid_field", "team_ids: a list of team ids")
    teams = list((await session.execute(select(Team).where(Team.id.in_(value)))).scalars())
    if len(teams) != len(set(value)):
        raise ApiError(400, "invalid_field", "team_ids: every id must be an existing team's")
    return teams


def _apply(agent: Agent, data: dict[str, Any]) -> list[str]:
    """The fields every agent form shares; returns the names of those changed."""
    changed = []
    if "name" in data:
        agent.name = _text(data, "name", 200)
        changed.append("name")
    if "role" in data:
        if data["role"] not in [r.value for r in Role]:
            raise ApiError(400, "invalid_field", "role: agent, lead, admin or marketing")
        agent.role = data["role"]
        changed.append("role")
    if "language" in data:
        if data["language"] not in ("it", "en"):
            raise ApiError(400, "invalid_field", "language: it or en")
        agent.language = data["language"]
        changed.append("language")
    if "languages" in data:
        langs = data["languages"]
        if not isinstance(langs, list) or not langs or not set(langs) <= set(LANGUAGES):
            raise ApiError(400, "invalid_field", f"languages: some of {', '.join(LANGUAGES)}")
        agent.languages = ",".join(dict.fromkeys(langs))
        changed.append("languages")
    if "capacity" in data:
        cap = data["capacity"]
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= 100:
            raise ApiError(400, "invalid_field", "capacity: 0 to 100 open conversations")
        agent.capacity = cap
        changed.append("capacity")
    return changed


async def create_agent(request: Request) -> Response:
    """Invite an agent: their first password is generated and shown once, in this answer."""
    admin, _viewer = await require_admin(request)
    data = await json_body(request)
    email = _text(data, "email", 320).lower()
    if not _EMAIL.fullmatch(email):
        raise ApiError(400, "invalid_field", "email: an email address")
    password = secrets.token_urlsafe(12)
    async with runtime(request).sessions() as session, session.begin():
        if await session.scalar(select(Agent.id).where(Agent.email == email)) is not None:
            raise ApiError(409, "conflict", f"{email} has an account already")
        agent = Agent(email=email, name="", password_hash=hash_password(password))
        _apply(agent, {"role": Role.AGENT.value, **data, "name": data.get("name")})
        agent.teams = await _teams(session, data.get("team_ids", []))
        session.add(agent)
        await session.flush()
        audit.record(session, admin.id, "agent.invited", "agent", agent.id, email=email,
                     role=agent.role)  # fmt: skip
        body = {**admin_agent_dict(agent), "password": password}
    return JSONResponse(body, 201)


async def patch_agent(request: Request) -> Response:
    admin, _viewer = await require_admin(request)
    data = await json_body(request)
    rt = runtime(request)
    async with rt.sessions() as session, session.begin():
        agent = await session.get(Agent, _path_id(request))
        if agent is None:
            raise ApiError(404, "not_found", "no such agent")
        demoted = data.get("role", Role.ADMIN.value) != Role.ADMIN.value
        if agent.id == admin.id and (data.get("active") is False or demoted):
            raise ApiError(409, "conflict", "admins cannot demote or deactivate themselves")
        changed = _apply(agent, data)
        if "team_ids" in data:
            agent.teams = await _teams(session, data["team_ids"])
            changed.append("team_ids")
        if "active" in data:
            if not isinstance(data["active"], bool):
                raise ApiError(400, "invalid_field", "active: true or false")
            agent.active = data["active"]
            changed.append("active")
            if not agent.active:  # their sessions end now
                sessions = await session.execute(
                    select(AgentSession).where(AgentSession.agent_id == agent.id,
                                               AgentSession.revoked_at.is_(None))
                )  # fmt: skip
                for row in sessions.scalars():
                    row.revoked_at = utcnow()
        audit.record(session, admin.id, "agent.updated", "agent", agent.id, changed=changed)
        body = admin_agent_dict(agent)
    if {"active", "role", "team_ids"} & set(changed):
        await revoked(rt, agent.id)  # their sockets check their session and rights again
    return JSONResponse(body)
