"""The label catalogue: every agent reads it (the console offers its labels and colours);
admins and team leads add, recolour, describe and remove labels. Removing one from the
catalogue leaves it on the conversations that carry it. Every change is audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.api.conversations import _path_id
from gateway.api.errors import ApiError, json_body, short_text
from gateway.runtime import runtime
from inbox import audit, labels
from inbox.model import Agent, LabelDefinition
from inbox.serialize import iso


def label_dict(row: LabelDefinition) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "colour": row.colour,
            "description": row.description, "created_at": iso(row.created_at)}  # fmt: skip


async def _editor(request: Request) -> Agent:
    agent, viewer = await require_agent(request)
    if not viewer.leads:
        raise ApiError(403, "forbidden", "only admins and team leads edit the label catalogue")
    return agent


async def list_labels(request: Request) -> Response:
    await require_agent(request)
    async with runtime(request).sessions() as session:
        rows = (
            await session.execute(select(LabelDefinition).order_by(LabelDefinition.name))
        ).scalars()
        body = [label_dict(r) for r in rows]
    return JSONResponse(body)


async def create_label(request: Request) -> Response:
    agent = await _editor(request)
    data = await json_body(request)
    try:
        given = data.get("name")
        name = labels.normalise(given if isinstance(given, str) else "")
        colour = labels.colour(data.get("colour", "#64748b"))
    except labels.InvalidLabel as exc:
        raise ApiError(400, "invalid_field", str(exc)) from None
    async with runtime(request).sessions() as session, session.begin():
        taken = await session.scalar(select(LabelDefinition.id).where(LabelDefinition.name == name))
        if taken is not None:
            raise ApiError(409, "conflict", f"the label {name} exists already")
        row = LabelDefinition(name=name, colour=colour,
                              description=short_text(data.get("description"), "description"))  # fmt: skip
        session.add(row)
        await session.flush()
        audit.record(session, agent.id, "label.created", "label", row.id, name=name)
        body = label_dict(row)
    return JSONResponse(body, 201)


async def patch_label(request: Request) -> Response:
    """Colour and description; a label's name stays (conversations carry it)."""
    agent = await _editor(request)
    data = await json_body(request)
    if "name" in data:
        raise ApiError(400, "invalid_field", "name: a label is not renamed; add a new one")
    async with runtime(request).sessions() as session, session.begin():
        row = await session.get(LabelDefinition, _path_id(request))
        if row is None:
            raise ApiError(404, "not_found", "no such label")
        try:
            if "colour" in data:
                row.colour = labels.colour(data["colour"])
        except labels.InvalidLabel as exc:
            raise ApiError(400, "invalid_field", str(exc)) from None
        if "description" in data:
            row.description = short_text(data["description"], "description")
        audit.record(session, agent.id, "label.updated", "label", row.id,
                     changed=sorted(k for k in data if k in ("colour", "description")))  # fmt: skip
        body = label_dict(row)
    return JSONResponse(body)


async def delete_label(request: Request) -> Response:
    agent = await _editor(request)
    async with runtime(request).sessions() as session, session.begin():
        row = await session.get(LabelDefinition, _path_id(request))
        if row is None:
            raise ApiError(404, "not_found", "no such label")
        audit.record(session, agent.id, "label.deleted", "label", row.id, name=row.name)
        await session.delete(row)
    return Response(status_code=204)
