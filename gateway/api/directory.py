"""Read-only lists an agent's console needs: inboxes, agents, canned responses, contacts."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.api.conversations import _path_id
from gateway.api.errors import ApiError
from gateway.runtime import runtime
from inbox.model import Agent, CannedResponse, Contact, Conversation, Identity, Inbox, Message
from inbox.serialize import conversation_dict, iso


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
        body = [{"id": a.id, "name": a.name, "role": a.role, "presence": a.presence} for a in rows]
    return JSONResponse(body)


async def list_canned(request: Request) -> Response:
    await require_agent(request)
    async with runtime(request).sessions() as session:
        rows = (
            await session.execute(select(CannedResponse).order_by(CannedResponse.short_code))
        ).scalars()
        body = [{"id": c.id, "short_code": c.short_code, "text": c.text} for c in rows]
    return JSONResponse(body)


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
        body = {
            "contact": {
                "id": contact.id, "name": contact.name, "email": contact.email,
                "phone": contact.phone, "lifecycle_stage": contact.lifecycle_stage,
                "attributes": contact.attributes, "created_at": iso(contact.created_at),
            },
            "identities": [
                {"channel": i.channel, "external_id": i.external_id, "handle": i.handle}
                for i in identities
                if not i.external_id.startswith("user:")
            ],
            "conversations": [conversation_dict(c, contact) for c in convs],
            "recent_sentiment": [
                {"message_id": m.id, "score": m.sentiment_score, "label": m.sentiment_label,
                 "created_at": iso(m.created_at)}
                for m in recent
            ],
        }  # fmt: skip
    return JSONResponse(body)
