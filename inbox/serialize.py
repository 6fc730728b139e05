"""The JSON shapes of messages and conversations, as docs/api.md describes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from inbox.model import Agent, Contact, Conversation
from inbox.reply_window import is_public


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def agent_public_dict(agent: Agent) -> dict[str, Any]:
    """What every agent may know of a colleague."""
    return {"id": agent.id, "name": agent.name, "role": agent.role, "presence": agent.presence,
            "team_ids": [t.id for t in agent.teams]}  # fmt: skip


def contact_dict(contact: Contact) -> dict[str, Any]:
    return {"id": contact.id, "name": contact.name, "email": contact.email}


def conversation_dict(conv: Conversation, contact: Contact) -> dict[str, Any]:
    return {
        "id": conv.id,
        "inbox_id": conv.inbox_id,
        "channel": conv.channel,
        "contact": contact_dict(contact),
        "status": conv.status,
        "subject": conv.subject,
        "public": is_public(conv.channel, conv.subject),
        "assignee_id": conv.assignee_id,
        "team_id": conv.team_id,
        "priority": conv.priority,
        "waiting_since": iso(conv.waiting_since),
        "first_response_at": iso(conv.first_response_at),
        "last_message_at": iso(conv.last_message_at),
        "snoozed_until": iso(conv.snoozed_until),
        "labels": list(conv.labels or []),
        "resolved_at": iso(conv.resolved_at),
        "created_at": iso(conv.created_at),
    }


class MessageFields(Protocol):
    """What `message_dict` reads: a `Message`, or the ingest's `NewMessage`."""

    @property
    def id(self) -> int: ...
    @property
    def conversation_id(self) -> int: ...
    @property
    def direction(self) -> str: ...
    @property
    def author_agent_id(self) -> int | None: ...
    @property
    def author_contact_id(self) -> int | None: ...
    @property
    def text(self) -> str: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def error(self) -> str | None: ...
    @property
    def attachments(self) -> list[Any]: ...
    @property
    def language(self) -> str | None: ...
    @property
    def sentiment_score(self) -> float | None: ...
    @property
    def sentiment_label(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def edited_at(self) -> datetime | None: ...


def message_dict(
    msg: MessageFields, *, contact: Contact | None = None, agent: Agent | None = None
) -> dict[str, Any]:
    if msg.author_agent_id is not None:
        author: dict[str, Any] | None = {
            "type": "agent",
            "id": msg.author_agent_id,
            "name": agent.name if agent is not None else None,
        }
    elif msg.author_contact_id is not None:
        author = {
            "type": "contact",
            "id": msg.author_contact_id,
            "name": contact.name if contact is not None else None,
        }
    else:
        author = None
    sentiment = (
        {"score": msg.sentiment_score, "label": msg.sentiment_label}
        if msg.sentiment_label is not None
        else None
    )
    return {
        "id": msg.id,
        "conversation_id": msg.conversation_id,
        "direction": msg.direction,
        "private": msg.direction == "note",
        "text": msg.text,
        "author": author,
        "client_id": msg.client_id,
        "status": msg.status,
        "attempts": msg.attempts,
        "error": msg.error,
        "attachments": list(msg.attachments or []),
        "language": msg.language,
        "sentiment": sentiment,
        "created_at": iso(msg.created_at),
        "edited_at": iso(msg.edited_at),
    }
