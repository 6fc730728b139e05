"""`/api/contacts/{id}/...` and `/api/contact_merges`: edit a contact, merge duplicates (and
undo), and, for admins, export or erase a contact's personal data (docs/api.md)."""

from __future__ import annotations

import json
import logging
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.api.conversations import _path_id
from gateway.api.errors import ApiError, field, json_body
from gateway.api.widget import EMAIL
from gateway.runtime import runtime
from inbox import audit, contacts, lifecycle, privacy, stream_purge
from inbox.access import Viewer
from inbox.files import FileStore
from inbox.model import Agent, Contact, ContactMerge, Outbox, Role
from inbox.serialize import iso

log = logging.getLogger("crocevia.contacts")


def contact_fields(c: Contact) -> dict[str, Any]:
    return {
        "id": c.id, "name": c.name, "email": c.email, "email_verified": c.email_verified,
        "phone": c.phone, "lifecycle_stage": c.lifecycle_stage, "attributes": c.attributes,
        "merged_into_id": c.merged_into_id, "erased_at": iso(c.erased_at),
        "created_at": iso(c.created_at),
    }  # fmt: skip


async def _agent(request: Request) -> tuple[Agent, Viewer]:
    agent, viewer = await require_agent(request)
    if not viewer.reads_conversations:
        raise ApiError(403, "forbidden", "marketing reads contacts through segments and exports")
    return agent, viewer


async def _admin(request: Request) -> Agent:
    agent, viewer = await require_agent(request)
    if viewer.role != Role.ADMIN:
        raise ApiError(403, "forbidden", "only admins export or erase a contact's data")
    return agent


async def _visible(session: Any, viewer: Viewer, contact_id: int) -> Contact:
    contact: Contact | None = await session.get(Contact, contact_id)
    if contact is None or not await contacts.visible_ids(session, viewer, {contact_id}):
        raise ApiError(404, "not_found", "no such contact")
    return contact


async def merge_suggestions(request: Request) -> Response:
    _agent_row, viewer = await _agent(request)
    async with runtime(request).sessions() as session:
        contact = await _visible(session, viewer, _path_id(request))
        found = await contacts.suggestions(session, contact, viewer)
    return JSONResponse({"suggestions": found})


async def merge(request: Request) -> Response:
    agent, viewer = await _agent(request)
    kept_id = _path_id(request)
    other_id = field(await json_body(request), "other_id", int)
    rt = runtime(request)
    outbox: list[Outbox] = []
    try:
        async with rt.sessions() as session, session.begin():
            for contact_id in (kept_id, other_id):
                await _visible(session, viewer, contact_id)
            row = await contacts.merge(session, kept_id, other_id, actor_agent_id=agent.id,
                                       outbox=outbox)  # fmt: skip
            body = {"merge": contacts.merge_dict(row),
                    "contact": contact_fields(await session.get_one(Contact, kept_id))}  # fmt: skip
    except contacts.MergeRefused as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except IntegrityError:
        raise ApiError(
            409, "conflict", "the merge conflicts with a concurrent change; try again"
        ) from None
    await rt.relay.publish_quietly(outbox)
    return JSONResponse(body, 201)


async def undo_merge(request: Request) -> Response:
    agent, viewer = await _agent(request)
    rt = runtime(request)
    outbox: list[Outbox] = []
    try:
        async with rt.sessions() as session, session.begin():
            row = await session.get(ContactMerge, _path_id(request))
            if row is None:
                raise ApiError(404, "not_found", "no such merge")
            await _visible(session, viewer, row.kept_contact_id)
            row = await contacts.undo(session, row.id, actor_agent_id=agent.id, outbox=outbox)
            body = {"merge": contacts.merge_dict(row)}
    except contacts.UndoRefused as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except IntegrityError:
        raise ApiError(
            409, "conflict", "the contacts changed since the merge in a way that blocks undoing it"
        ) from None
    await rt.relay.publish_quietly(outbox)
    return JSONResponse(body)


def _text(data: dict[str, Any], name: str, limit: int) -> str | None:
    raw = field(data, name, str, required=False)
    if raw is None:
        return None
    value = str(raw).strip()
    if len(value) > limit:
        raise ApiError(400, "invalid_field", f"{name}: at most {limit} characters")
    return value


async def patch_contact(request: Request) -> Response:
    """Name, email, phone (stored in E.164) and lifecycle stage; "" clears a field."""
    agent, viewer = await _agent(request)
    data = await json_body(request)
    unknown = set(data) - {"name", "email", "phone", "lifecycle_stage"}
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown fields: {', '.join(sorted(unknown))}")
    changes: dict[str, str | bool | None] = {}
    if (name := _text(data, "name", 200)) is not None:
        changes["name"] = name or None
    if (email := _text(data, "email", 320)) is not None:
        if email and not EMAIL.match(email):
            raise ApiError(400, "invalid_field", "email does not look like an email address")
        changes["email"] = contacts.normal_email(email)
        changes["email_verified"] = True if email else None  # an agent vouches for it
    if (phone := _text(data, "phone", 64)) is not None:
        changes["phone"] = contacts.normal_phone(phone) if phone else None
        if phone and changes["phone"] is None:
            raise ApiError(
                400, "invalid_field", "phone is not a valid number (Italian unless +country)"
            )
    stage = field(data, "lifecycle_stage", str, required=False)
    if stage is not None and stage not in lifecycle.STAGES:
        raise ApiError(
            400, "invalid_field", f"lifecycle_stage: one of {', '.join(lifecycle.STAGES)}"
        )
    async with runtime(request).sessions() as session, session.begin():
        contact = await _visible(session, viewer, _path_id(request))
        if contact.erased_at is not None or contact.merged_into_id is not None:
            raise ApiError(409, "conflict", "this contact was erased or merged into another")
        changed = sorted(k for k, v in changes.items() if getattr(contact, k) != v)
        for key in changed:
            setattr(contact, key, changes[key])
        if stage is not None and await lifecycle.set_stage(
            session, contact, stage, source="agent", actor_agent_id=agent.id
        ):
            changed.append("lifecycle_stage")
        if changed:
            audit.record(
                session, agent.id, "contact.updated", "contact", contact.id, fields=changed
            )
        await session.flush()
        body = {**contact_fields(contact),
                "lifecycle_history": await lifecycle.history(session, contact.id)}  # fmt: skip
    return JSONResponse(body)


async def export_contact(request: Request) -> Response:
    agent = await _admin(request)
    contact_id = _path_id(request)
    async with runtime(request).sessions() as session, session.begin():
        try:
            body = await privacy.export(session, contact_id)
        except LookupError:
            raise ApiError(404, "not_found", "no such contact") from None
        audit.record(session, agent.id, "contact.exported", "contact", contact_id)
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


async def erase_contact(request: Request) -> Response:
    agent = await _admin(request)
    rt = runtime(request)
    outbox: list[Outbox] = []
    try:
        async with rt.sessions() as session, session.begin():
            family = await privacy.merged_family(session, _path_id(request))
            summary = await privacy.erase(
                session, _path_id(request), actor_agent_id=agent.id, outbox=outbox,
                store=FileStore(rt.settings.data_dir / "files"),
            )  # fmt: skip
    except LookupError:
        raise ApiError(404, "not_found", "no such contact") from None
    except privacy.ErasureRefused as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    # The stream's copies of their events go too: a resume must not replay them.
    try:
        summary["stream_entries_deleted"] = await stream_purge.purge_contacts(rt.redis, family)
    except RedisError as exc:  # the resume window's trim removes them within a day
        log.warning("erasure_stream_not_purged", extra={"contacts": family, "error": repr(exc)})
        summary["stream_entries_deleted"] = None
    await rt.relay.publish_quietly(outbox)
    return JSONResponse({"erased": summary})
