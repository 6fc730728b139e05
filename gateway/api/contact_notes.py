"""`/api/contacts/{id}/notes`: what the team writes down about a customer. Read and
written by whoever may see the customer (not marketing); a merged duplicate's notes show
with the contact it went into; erasure deletes them (inbox/privacy.py)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.contacts import _agent, _visible
from gateway.api.conversations import _path_id
from gateway.api.errors import ApiError, field, json_body
from gateway.runtime import runtime
from inbox.model import Agent, ContactNote
from inbox.privacy import merged_family
from inbox.serialize import iso

MAX_NOTE = 5000


async def list_notes(request: Request) -> Response:
    _agent_row, viewer = await _agent(request)
    async with runtime(request).sessions() as session:
        contact = await _visible(session, viewer, _path_id(request))
        ids = await merged_family(session, contact.id)
        rows = await session.execute(
            select(ContactNote, Agent)
            .outerjoin(Agent, Agent.id == ContactNote.author_agent_id)
            .where(ContactNote.contact_id.in_(ids))
            .order_by(ContactNote.id.desc())
            .limit(100)
        )
        body = [{"id": n.id, "text": n.text, "author": a.name if a else None,
                 "created_at": iso(n.created_at)} for n, a in rows.tuples()]  # fmt: skip
    return JSONResponse({"notes": body})


async def add_note(request: Request) -> Response:
    agent, viewer = await _agent(request)
    data = await json_body(request)
    text = field(data, "text", str).strip()
    if not text or len(text) > MAX_NOTE:
        raise ApiError(400, "invalid_field", f"text: 1 to {MAX_NOTE} characters")
    async with runtime(request).sessions() as session, session.begin():
        contact = await _visible(session, viewer, _path_id(request))
        if contact.erased_at is not None:
            raise ApiError(409, "conflict", "this contact was erased")
        note = ContactNote(contact_id=contact.id, author_agent_id=agent.id, text=text)
        session.add(note)
        await session.flush()
        body = {"id": note.id, "text": note.text, "author": agent.name,
                "created_at": iso(note.created_at)}  # fmt: skip
    return JSONResponse(body, 201)
