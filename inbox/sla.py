"""Service-level targets per inbox and priority, counted in business hours.

    "sla": {"urgent": {"first_response_minutes": 15, "next_response_minutes": 30},
            "normal": {"first_response_minutes": 240}}

A conversation waiting for its first answer runs the first-response clock from when it
started waiting; later waits run the next-response clock. Both stop outside the inbox's
business hours. A missed target is recorded once per wait (unique on conversation, kind
and due time) and announced with an `sla.breached` event that team leads see at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import events
from inbox.hours import schedule_of
from inbox.model import Contact, Conversation, Inbox, Outbox, SlaBreach
from inbox.serialize import conversation_dict, iso

KINDS = ("first_response", "next_response")


def target_minutes(settings: dict[str, Any] | None, priority: str, kind: str) -> float | None:
    policy = ((settings or {}).get("sla") or {}).get(priority) or {}
    value = policy.get(f"{kind}_minutes")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def due_at(conv: Conversation, inbox: Inbox) -> tuple[str, datetime] | None:
    """Which clock runs for this conversation and when it runs out (None: no target)."""
    if conv.status != "open" or conv.waiting_since is None:
        return None
    kind = "first_response" if conv.first_response_at is None else "next_response"
    minutes = target_minutes(inbox.settings, conv.priority, kind)
    if minutes is None:
        return None
    schedule = schedule_of(inbox.timezone, inbox.settings)
    due = schedule.add_business_seconds(conv.waiting_since, minutes * 60)
    return (kind, due) if due is not None else None


async def check_breaches(
    session: AsyncSession, now: datetime, outbox: list[Outbox], limit: int = 500
) -> list[SlaBreach]:
    """Record and announce every target missed by `now` (once each)."""
    inboxes = {
        i.id: i
        for i in (await session.execute(select(Inbox))).scalars()
        if (i.settings or {}).get("sla")
    }
    if not inboxes:
        return []
    waiting = (
        await session.execute(
            select(Conversation)
            .where(Conversation.inbox_id.in_(list(inboxes)))
            .where(Conversation.status == "open", Conversation.waiting_since.is_not(None))
            .where(Conversation.waiting_since <= now - timedelta(minutes=1))
            .order_by(Conversation.waiting_since)
            .limit(limit)
        )
    ).scalars()
    found: list[SlaBreach] = []
    for conv in waiting:
        clock = due_at(conv, inboxes[conv.inbox_id])
        if clock is None or clock[1] > now:
            continue
        kind, due = clock
        known = await session.scalar(
            select(SlaBreach.id).where(
                SlaBreach.conversation_id == conv.id,
                SlaBreach.kind == kind,
                SlaBreach.due_at == due,
            )
        )
        if known is not None:
            continue
        breach = SlaBreach(conversation_id=conv.id, kind=kind, due_at=due, breached_at=now)
        try:
            async with session.begin_nested():
                session.add(breach)
                await session.flush()
        except IntegrityError:
            continue  # another process recorded it first
        contact = await session.get_one(Contact, conv.contact_id)
        outbox.append(
            events.emit(
                session,
                "sla.breached",
                {
                    "conversation": conversation_dict(conv, contact),
                    "breach": {"kind": kind, "due_at": iso(due), "breached_at": iso(now)},
                },
            )  # fmt: skip
        )
        found.append(breach)
    return found
