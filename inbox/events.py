"""Events: written to the outbox in the transaction of the change they describe.

Zulip's rule, kept here: events are produced in one narrow place, so an event is
never published for a transaction that rolled back. The relay (relay.py) moves
committed rows to Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from inbox.model import Outbox, utcnow
from inbox.unique_keys import unique_key

EVENTS_STREAM = "crocevia:events"
OUTBOUND_STREAM = "crocevia:outbound"
OUTBOUND_GROUP = "crocevia:outbound"
EPHEMERAL_CHANNEL = "crocevia:ephemeral"
# Each event that names a contact is also published on that contact's channel, which
# the gateways holding that contact's widget sockets subscribe to (gateway/contact_feed.py).
CONTACT_CHANNEL_PREFIX = "crocevia:contact:"

STREAM_KEYS = {"events": EVENTS_STREAM, "outbound": OUTBOUND_STREAM}


ROUTE_FIELDS = (
    "conv",
    "inbox",
    "contact",
    "team",
    "assignee",
    "direction",
    "private",
    "status",
    "at",
)


def contact_channel(contact_id: int) -> str:
    return f"{CONTACT_CHANNEL_PREFIX}{contact_id}"


def contact_of(payload: dict[str, Any]) -> int | None:
    """The contact an event's conversation belongs to, if it names one."""
    contact = ((payload.get("conversation") or {}).get("contact") or {}).get("id")
    return contact if isinstance(contact, int) else None


def routing(payload: dict[str, Any]) -> str:
    """What a gateway needs to decide who may see an event, in one `|`-joined field
    published beside the opaque payload (ROUTE_FIELDS order; empty means none), so that
    fan-out never parses the payload."""
    conv = payload.get("conversation") or {}
    msg = payload.get("message") or {}
    values = (
        conv.get("id"), conv.get("inbox_id"), contact_of(payload),
        conv.get("team_id"), conv.get("assignee_id"), msg.get("direction"),
        "1" if msg.get("private") else None, msg.get("status"), msg.get("created_at"),
    )  # fmt: skip
    return "|".join("" if v is None else str(v) for v in values)


def emit(session: AsyncSession, event: str, data: dict[str, Any]) -> Outbox:
    """Queue an event for every client that may see it."""
    row = Outbox(stream="events", event=event, payload=data)
    session.add(row)
    return row


async def emit_many(session: AsyncSession, specs: list[tuple[str, dict[str, Any]]]) -> list[Outbox]:
    """Queue several events with one INSERT (their ids keep the given order)."""
    rows = await session.run_sync(emit_many_sync, specs)
    return [Outbox(id=r.id, stream=r.stream, event=r.event, payload=r.payload) for r in rows]


class OutboxRow(Protocol):
    """What the relay publishes of an outbox row: an `Outbox`, or a `NewEvent`."""

    @property
    def id(self) -> int: ...
    @property
    def stream(self) -> str: ...
    @property
    def event(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An outbox row just inserted, as the relay publishes it (an `OutboxRow`)."""

    id: int
    stream: str
    event: str
    payload: dict[str, Any]


def emit_many_sync(session: Session, specs: list[tuple[str, dict[str, Any]]]) -> list[NewEvent]:
    """`emit_many` in a synchronous session (the intake's transaction, inbox/writes.py).
    Core, and no ORM object made: the ingest calls it for every batch."""
    if not specs:
        return []
    now = utcnow()
    rows = [
        {"insert_key": unique_key(), "stream": "events", "event": name, "payload": data,
         "created_at": now}
        for name, data in specs
    ]  # fmt: skip
    ids = session.connection().execute(_INSERT_RETURNING_IDS, rows).scalars().all()
    return [
        NewEvent(id_, "events", name, data) for id_, (name, data) in zip(ids, specs, strict=True)
    ]


_INSERT_RETURNING_IDS = insert(Outbox).returning(Outbox.id, sort_by_parameter_order=True)


def request_delivery(session: AsyncSession, message_id: int, conversation_id: int) -> Outbox:
    """Queue a reply for the outbound workers (the conversation keeps its replies in order)."""
    row = Outbox(stream="outbound", event="outbound.send",
                 payload={"message_id": message_id, "conversation_id": conversation_id})  # fmt: skip
    session.add(row)
    return row
