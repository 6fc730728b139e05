"""`/api/conversations` and `/api/messages`: what an agent reads and changes over REST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import agent_actions
from gateway.api.agents_auth import require_agent
from gateway.api.errors import BIG_INT, INT64, ApiError, field, json_body, no_nul
from gateway.runtime import runtime
from inbox import conversations
from inbox.conversations import Filters, InvalidFilter
from inbox.model import Contact, Outbox
from inbox.serialize import conversation_dict
from inbox.states import InvalidTransition

READ_ONLY_FIELDS = ("id", "inbox_id", "contact_id", "channel", "created_at")


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_field", f"{name} must be an integer, got {raw!r}") from None
    if value not in INT64:
        raise ApiError(400, "invalid_field", f"{name} is out of range")
    return value


def _aware(raw: str, name: str) -> datetime:
    """An ISO 8601 time with its offset (a time without a zone is ambiguous)."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid_field", f"{name} must be an ISO 8601 time") from None
    if value.tzinfo is None:
        raise ApiError(400, "invalid_field", f"{name} needs a time zone offset, e.g. +01:00")
    return value.astimezone(UTC)


def _path_id(request: Request, name: str = "id", bound: range = INT64) -> int:
    try:
        value = int(request.path_params[name])
    except ValueError:
        raise ApiError(404, "not_found", "no such resource") from None
    if value not in bound:
        raise ApiError(404, "not_found", "no such resource")
    return value


async def list_conversations(request: Request) -> Response:
    _agent, viewer = await require_agent(request)
    no_nul(request)
    q = request.query_params
    status = q.get("status", "open")
    try:
        filters = Filters(
            view=q.get("view", "all"),
            status=None if status in ("", "any") else status,
            channel=q.get("channel") or None,
            inbox_id=_int_param(request, "inbox_id"),
            label=q.get("label") or None,
            limit=_int_param(request, "limit") or 100,
        )
    except InvalidFilter as exc:
        raise ApiError(400, "invalid_field", str(exc)) from None
    rt = runtime(request)
    tip = await rt.hub.tip()  # before the read: later events are replayed, none is missed
    async with rt.sessions() as session:
        items = await conversations.list_for(session, viewer, filters)
    return JSONResponse({"conversations": items, "last_event_id": tip})


async def conversation_messages(request: Request) -> Response:
    _agent, viewer = await require_agent(request)
    rt = runtime(request)
    tip = await rt.hub.tip()
    async with rt.sessions() as session:
        conv = await conversations.get_visible(session, viewer, _path_id(request))
        if conv is None:
            raise ApiError(404, "not_found", "no such conversation")
        contact = await session.get_one(Contact, conv.contact_id)
        body = {
            "conversation": conversation_dict(conv, contact),
            "messages": await conversations.history(session, conv),
            "last_event_id": tip,
        }
    return JSONResponse(body)


def _refused(exc: agent_actions.ActionRefused) -> ApiError:
    return ApiError(exc.status, "invalid_field" if exc.code == "invalid" else exc.code, exc.message)


async def post_message(request: Request) -> Response:
    """A reply or a note (`private`), with `attachments` (ids of uploaded files)."""
    agent, viewer = await require_agent(request)
    data = await json_body(request)
    attachments = field(data, "attachments", list, required=False, default=[])
    if not all(isinstance(i, str) for i in attachments):
        raise ApiError(400, "invalid_field", "'attachments' must be a list of file ids")
    try:
        body, created = await agent_actions.reply(
            runtime(request), agent, viewer, _path_id(request),
            text=field(data, "text", str, required=False, default=""),
            client_id=field(data, "client_id", str),
            private=field(data, "private", bool, required=False, default=False),
            attachment_ids=attachments,
        )  # fmt: skip
    except agent_actions.ActionRefused as exc:
        raise _refused(exc) from None
    return JSONResponse(body, 201 if created else 200)


def simple_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Status, priority and assignee as a PATCH (or a bulk action) gives them."""
    changes: dict[str, Any] = {}
    if "status" in data:
        changes["status"] = field(data, "status", str)
    if "priority" in data:
        changes["priority"] = field(data, "priority", str)
    if "assignee_id" in data:
        changes["assignee_id"] = field(data, "assignee_id", int, required=False)
    return changes


async def patch_conversation(request: Request) -> Response:
    """Status (with `snoozed_until`), priority, assignee, team (a transfer) and labels."""
    _agent, viewer = await require_agent(request)
    data = await json_body(request)
    # Where a conversation belongs is never writable: an agent moves it between teams
    # (team_id) and people (assignee_id), never into another inbox or contact.
    for name in READ_ONLY_FIELDS:
        if name in data:
            raise ApiError(400, "read_only_field", f"{name!r} cannot be changed")
    changes = simple_changes(data)
    if "team_id" in data:
        changes["team_id"] = field(data, "team_id", int, required=False)
    if "labels" in data:
        labels = field(data, "labels", list)
        if not all(isinstance(x, str) for x in labels):
            raise ApiError(400, "invalid_field", "'labels' must be a list of strings")
        changes["labels"] = labels
    if data.get("snoozed_until") is not None:
        if changes.get("status") != "snoozed":
            raise ApiError(400, "invalid_field", "snoozed_until goes with status 'snoozed'")
        changes["snoozed_until"] = _aware(field(data, "snoozed_until", str), "snoozed_until")
    rt = runtime(request)
    outbox: list[Outbox] = []
    async with rt.sessions() as session, session.begin():
        conv = await conversations.get_visible(session, viewer, _path_id(request))
        if conv is None:
            raise ApiError(404, "not_found", "no such conversation")
        try:
            await conversations.update(session, conv, outbox=outbox, **changes)
        except InvalidTransition as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        except InvalidFilter as exc:
            raise ApiError(400, "invalid_field", str(exc)) from None
        contact = await session.get_one(Contact, conv.contact_id)
        body = conversation_dict(conv, contact)
    await rt.relay.publish_quietly(outbox)
    return JSONResponse(body)


async def mark_read(request: Request) -> Response:
    agent, viewer = await require_agent(request)
    rt = runtime(request)
    outbox: list[Outbox] = []
    async with rt.sessions() as session, session.begin():
        conv = await conversations.get_visible(session, viewer, _path_id(request))
        if conv is None:
            raise ApiError(404, "not_found", "no such conversation")
        await conversations.mark_read(session, agent.id, conv, outbox)
    await rt.relay.publish_quietly(outbox)
    return JSONResponse({})


async def retry_message(request: Request) -> Response:
    agent, viewer = await require_agent(request)
    try:
        body = await agent_actions.retry(
            runtime(request), agent, viewer, _path_id(request, bound=BIG_INT)
        )
    except agent_actions.ActionRefused as exc:
        raise _refused(exc) from None
    return JSONResponse(body)
