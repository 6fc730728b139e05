"""What a website visitor may know of an event or a message: a whitelist.

Events carry what agents need (labels, priority, assignee, team, sentiment, language,
agent ids, the contact record). A visitor's socket and `GET /api/widget/messages` get
only the fields below, whatever is added to the agents' side later (docs/api.md).
"""

from __future__ import annotations

from typing import Any

from gateway.stream_event import StreamEvent
from inbox import json_codec

MESSAGE_FIELDS = ("id", "conversation_id", "direction", "text", "client_id", "status",
                  "attachments", "created_at", "edited_at")  # fmt: skip
CONVERSATION_FIELDS = ("id", "status", "created_at", "resolved_at")


def visitor_message(message: dict[str, Any]) -> dict[str, Any]:
    shown = {k: message.get(k) for k in MESSAGE_FIELDS}
    author = message.get("author") or {}
    shown["author"] = {"type": author.get("type"), "name": author.get("name")}
    return shown


def visitor_conversation(conversation: dict[str, Any]) -> dict[str, Any]:
    return {k: conversation.get(k) for k in CONVERSATION_FIELDS}


def visitor_frame(ev: StreamEvent) -> str:
    data = ev.data
    shown: dict[str, Any] = {}
    if isinstance(data.get("message"), dict):
        shown["message"] = visitor_message(data["message"])
    if isinstance(data.get("conversation"), dict):
        shown["conversation"] = visitor_conversation(data["conversation"])
    if isinstance(data.get("read"), dict):  # the team has read the visitor's messages
        shown["read"] = {"up_to": data["read"].get("up_to")}
    return json_codec.dumps({"type": "event", "id": ev.id, "eid": ev.eid, "event": ev.event,
                       "data": shown})  # fmt: skip
