"""What an agent's console looks up: inboxes, agents, teams, canned responses, contacts."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.api.conversations import _path_id
from gateway.api.errors import ApiError, field, json_body
from gateway.runtime import runtime
from inbox import audit, lifecycle, sentiment_rollups
from inbox.model import (
    Agent,
    CannedResponse,
    Contact,
    Conversation,
    CsatResponse,
    Identity,
    Inbox,
    Message,
    Team,
    utcnow,
)
from inbox.serialize import agent_public_dict, conversation_dict, iso

_SHORT_CODE = re.compile(r"[a-z0-9_-]{1,60}")


async def list_inboxes(request: Request) -> Response:
    await require_agent(request)
    async with runtime(request).sessions() as session:
        rows = (await session.execute(select(Inbox).order_by(Inbox.id))).scalars()
        body = [
            {"id": i.id, "name": i.name, "channel": i.channel, "team_id": i.team_id} for i in rows
        ]
    return JSONResponse(body)


async def list_agents(request: Request) -> Response:
    await require_agent(request)
    async with runtime(request).sessions() as session:
        rows = (
            await session.execute(select(Agent).where(Agent.active.is_(True)).order_by(Agent.name))
        ).scalars()
        body = [agent_public_dict(a) for a in rows]
    return JSONResponse(body)


async def list_teams(request: Request) -> Response:
    await require_agent(request)
    async with runtime(request).sessions() as session:
        rows = (await session.execute(select(Team).order_by(Team.name))).scalars()
        body = [{"id": t.id, "name": t.name} for t in rows]
    return JSONResponse(body)


async def list_canned(request: Request) -> Response:
    await require_agent(request)
    async with runtime(request).sessions() as session:
        rows = (
            await session.execute(select(CannedResponse).order_by(CannedResponse.short_code))
        ).scalars()
        body = [_canned_dict(c) for c in rows]
    return JSONResponse(body)


def _canned_dict(c: CannedResponse) -> dict[str, Any]:
    return {"id": c.id, "short_code": c.short_code, "text": c.text}


async def _canned_fields(request: Request) -> tuple[int, str, str]:
    agent, viewer = await require_agent(request)
    if not viewer.leads:
        raise ApiError(403, "forbidden", "only admins and team leads edit canned responses")
    data = await json_body(request)
    code = field(data, "short_code", str).strip().lower()
    text = field(data, "text", str)
    if not _SHORT_CODE.fullmatch(code):
        raise ApiError(400, "invalid_field", "short_code: 1 to 60 letters a-z, digits, '-' or '_'")
    if not text.strip() or len(text) > 5000:
        raise ApiError(400, "invalid_field", "text: 1 to 5000 characters")
    return agent.id, code, text


async def create_canned(request: Request) -> Response:
    agent_id, code, text = await _canned_fields(request)
    async with runtime(request).sessions() as session, session.begin():
        taken = await session.scalar(
            select(CannedResponse.id).where(CannedResponse.short_code == code)
        )
        if taken is not None:
            raise ApiError(409, "conflict", f"/{code} exists already")
        row = CannedResponse(short_code=code, text=text)
        session.add(row)
        await session.flush()
        audit.record(session, agent_id, "canned_response.created", "canned_response", row.id,
                     short_code=code)  # fmt: skip
        body = _canned_dict(row)
    return JSONResponse(body, 201)


async def delete_canned(request: Request) -> Response:
    agent, viewer = await require_agent(request)
    if not viewer.leads:
        raise ApiError(403, "forbidden", "only admins and team leads edit canned responses")
    async with runtime(request).sessions() as session, session.begin():
        row = await session.get(CannedResponse, _path_id(request))
        if row is None:
            raise ApiError(404, "not_found", "no such canned response")
        audit.record(session, agent.id, "canned_response.deleted", "canned_response", row.id,
                     short_code=row.short_code)  # fmt: skip
        await session.delete(row)
    return JSONResponse({})


async def get_contact(request: Request) -> Response:
    _agent, viewer = await require_agent(request)
    contact_id = _path_id(request)
    async with runtime(request).sessions() as session:
        convs = list(
            (
                await session.execute(
                    select(Conversation)
                    .where(Conversation.contact_id == contact_id)
                    .where(viewer.sql_filter())
                    .order_by(Conversation.id.desc())
                    .limit(50)
                )
            ).scalars()
        )
        contact = await session.get(Contact, contact_id)
        # A contact is visible through a conversation the agent may see.
        if contact is None or not convs:
            raise ApiError(404, "not_found", "no such contact")
        identities = (
            await session.execute(select(Identity).where(Identity.contact_id == contact_id))
        ).scalars()
        recent = (
            await session.execute(
                select(Message)
                .where(Message.conversation_id.in_([c.id for c in convs]))
                .where(Message.sentiment_label.is_not(None))
                .order_by(Message.id.desc())
                .limit(20)
            )
        ).scalars()
        body: dict[str, Any] = {
            "contact": {
                "id": contact.id, "name": contact.name, "email": contact.email,
                "phone": contact.phone, "lifecycle_stage": contact.lifecycle_stage,
                "attributes": contact.attributes, "created_at": iso(contact.created_at),
                "erased_at": iso(contact.erased_at),
            },
            "lifecycle_history": await lifecycle.history(session, contact.id),
            "identities": [
                {"channel": i.channel, "external_id": i.external_id, "handle": i.handle}
                for i in identities
                if not i.external_id.startswith("user:")
            ],
            "conversations": [conversation_dict(c, contact) for c in convs],
            # The customer's CSAT answers, by conversation: {"57": {"rating": 4, "comment": …}}.
            "csat": {
                str(r.conversation_id): {"rating": r.rating, "comment": r.comment,
                                         "created_at": iso(r.created_at)}
                for r in (await session.execute(select(CsatResponse).where(
                    CsatResponse.conversation_id.in_([c.id for c in convs])))).scalars()
            },
            "recent_sentiment": [
                {"message_id": m.id, "score": m.sentiment_score, "label": m.sentiment_label,
                 "created_at": iso(m.created_at)}
                for m in recent
            ],
        }  # fmt: skip
        # Sentiment rollups: the contact's current mood, trend, averages and negative streak,
        # and each listed conversation's current sentiment and trend.
        body["sentiment"] = {
            **await sentiment_rollups.contact(session, contact.id, utcnow()),
            "conversations": {
                str(cid): v
                for cid, v in (
                    await sentiment_rollups.conversations(session, [c.id for c in convs])
                ).items()
            },
        }
    return JSONResponse(body)
