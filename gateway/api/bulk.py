"""`POST /api/conversations/bulk`: one change to many conversations at once (assign,
label, resolve, prioritise), each applied as its own PATCH would be: what the agent may
not see or cannot move is reported, never half-applied."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.api.conversations import simple_changes
from gateway.api.errors import INT64, ApiError, field, json_body
from gateway.runtime import runtime
from inbox import conversations
from inbox.model import Outbox
from inbox.states import InvalidTransition

MAX_BULK = 100


async def bulk_update(request: Request) -> Response:
    _agent, viewer = await require_agent(request)
    data = await json_body(request)
    ids = field(data, "ids", list)
    if (
        not ids
        or len(ids) > MAX_BULK
        or not all(isinstance(i, int) and not isinstance(i, bool) and i in INT64 for i in ids)
    ):
        raise ApiError(400, "invalid_field", f"ids: 1 to {MAX_BULK} conversation ids")
    changes = simple_changes(data)
    add_label = field(data, "add_label", str, required=False)
    if add_label is not None and not 0 < len(add_label.strip()) <= 50:
        raise ApiError(400, "invalid_field", "add_label: 1 to 50 characters")
    if not changes and add_label is None:
        raise ApiError(400, "invalid_field", "nothing to change: status, priority, assignee_id "
                       "or add_label")  # fmt: skip
    rt = runtime(request)
    updated: list[int] = []
    refused: list[dict[str, Any]] = []
    for conv_id in dict.fromkeys(ids):
        outbox: list[Outbox] = []
        try:
            async with rt.sessions() as session, session.begin():
                conv = await conversations.get_visible(session, viewer, conv_id)
                if conv is None:
                    refused.append({"id": conv_id, "reason": "not_found"})
                    continue
                labels = None
                if add_label is not None:
                    labels = list(dict.fromkeys([*(conv.labels or []), add_label.strip()]))
                extra: dict[str, Any] = {"labels": labels} if labels is not None else {}
                await conversations.update(session, conv, outbox=outbox, **changes, **extra)
        except (InvalidTransition, conversations.InvalidFilter) as exc:
            refused.append({"id": conv_id, "reason": str(exc)})
            continue
        await rt.relay.publish_quietly(outbox)
        updated.append(conv_id)
    return JSONResponse({"updated": updated, "refused": refused})
