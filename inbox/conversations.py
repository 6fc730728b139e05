"""Reading and changing conversations as an agent: lists, history, status, assignment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from inbox import events, mentions
from inbox.access import Viewer
from inbox.auto_messages import ask_csat
from inbox.labels import InvalidLabel, has_label, normalise_all
from inbox.model import (
    Agent,
    Contact,
    Conversation,
    Direction,
    Inbox,
    Message,
    Outbox,
    Priority,
    ReadMarker,
    Team,
    utcnow,
)
from inbox.serialize import conversation_dict, message_dict
from inbox.states import CONVERSATION_STATUSES, check_conversation_move

VIEWS = ("mine", "unassigned", "all")


class InvalidFilter(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Filters:
    view: str = "all"
    status: str | None = "open"
    channel: str | None = None
    inbox_id: int | None = None
    label: str | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise InvalidFilter(f"view must be one of {', '.join(VIEWS)}, got {self.view!r}")
        if self.status is not None and self.status not in CONVERSATION_STATUSES:
            raise InvalidFilter(
                f"status must be one of {', '.join(CONVERSATION_STATUSES)}, got {self.status!r}"
            )
        if self.label is not None:
            try:
                normalise_all([self.label])
            except InvalidLabel as exc:
                raise InvalidFilter(str(exc)) from None
        if not 1 <= self.limit <= 500:
            raise InvalidFilter(f"limit must be between 1 and 500, got {self.limit}")


async def list_for(session: AsyncSession, viewer: Viewer, f: Filters) -> list[dict[str, Any]]:
    """Conversations the viewer may see, newest activity first, each with its last
    message and the viewer's unread count."""
    q = (
        select(Conversation, Contact)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(viewer.sql_filter())
    )
    if f.view == "mine":
        q = q.where(Conversation.assignee_id == viewer.agent_id)
    elif f.view == "unassigned":
        q = q.where(Conversation.assignee_id.is_(None))
    if f.status is not None:
        q = q.where(Conversation.status == f.status)
    if f.channel is not None:
        q = q.where(Conversation.channel == f.channel)
    if f.inbox_id is not None:
        q = q.where(Conversation.inbox_id == f.inbox_id)
    if f.label is not None:
        q = q.where(has_label(f.label))
    q = q.order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())
    rows = (await session.execute(q.limit(f.limit))).all()
    ids = [conv.id for conv, _ in rows]
    last = await _last_messages(session, ids)
    unread = await _unread_counts(session, viewer.agent_id, ids)
    out = []
    for conv, contact in rows:
        d = conversation_dict(conv, contact)
        d["last_message"] = last.get(conv.id)
        d["unread_count"] = unread.get(conv.id, 0)
        out.append(d)
    return out


async def _last_messages(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    # The list shows what a person wrote: Crocevia's own automatic messages (the
    # out-of-hours reply, the CSAT question: outbound without an agent) are skipped.
    automatic = and_(Message.direction == "out", Message.author_agent_id.is_(None))
    newest = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(ids), ~automatic)
        .group_by(Message.conversation_id)
    )
    msgs = (await session.execute(select(Message).where(Message.id.in_(newest)))).scalars()
    return {m.conversation_id: message_dict(m) for m in msgs}


async def _unread_counts(session: AsyncSession, agent_id: int, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    q = (
        select(Message.conversation_id, func.count())
        .outerjoin(
            ReadMarker,
            and_(
                ReadMarker.conversation_id == Message.conversation_id,
                ReadMarker.agent_id == agent_id,
            ),
        )
        .where(Message.conversation_id.in_(ids))
        .where(Message.direction == "in")
        .where(Message.id > func.coalesce(ReadMarker.last_read_message_id, 0))
        .group_by(Message.conversation_id)
    )
    return {cid: int(n) for cid, n in (await session.execute(q)).all()}


async def latest_of_contact(
    session: AsyncSession, inbox_id: int, contact_id: int
) -> Conversation | None:
    """A contact's newest conversation in an inbox (what the widget shows)."""
    return (await session.execute(_LATEST, _of(inbox_id, contact_id))).scalar_one_or_none()


async def latest_routing_of_contact(
    session: AsyncSession, inbox_id: int, contact_id: int
) -> ConversationRouting | None:
    """What a widget socket keeps of a contact's newest conversation in an inbox: its id,
    team and assignee, read as three columns (no entity made: a reconnect storm asks it
    of every socket)."""
    row = (await session.execute(_LATEST_ROUTING, _of(inbox_id, contact_id))).first()
    return None if row is None else ConversationRouting(row[0], row[1], row[2])


def latest_routing_of_contact_sync(
    session: Session, inbox_id: int, contact_id: int
) -> ConversationRouting | None:
    """`latest_routing_of_contact` in a synchronous session (a widget socket's
    authentication, gateway/ws_widget.py)."""
    row = session.execute(_LATEST_ROUTING, _of(inbox_id, contact_id)).first()
    return None if row is None else ConversationRouting(row[0], row[1], row[2])


def latest_of_contact_sync(session: Session, inbox_id: int, contact_id: int) -> Conversation | None:
    """`latest_of_contact` in a synchronous session (the intake's, inbox/writes.py)."""
    return session.execute(_LATEST, _of(inbox_id, contact_id)).scalar_one_or_none()


# Built once: every widget socket's authentication asks it, and building it each time
# cost two thirds as much as running it (py-spy, a reconnect storm).
_LATEST = (
    select(Conversation)
    .where(Conversation.inbox_id == bindparam("inbox_id"))
    .where(Conversation.contact_id == bindparam("contact_id"))
    .order_by(Conversation.id.desc())
    .limit(1)
)


_LATEST_ROUTING = _LATEST.with_only_columns(
    Conversation.id, Conversation.team_id, Conversation.assignee_id
)


@dataclass(frozen=True, slots=True)
class ConversationRouting:
    id: int
    team_id: int | None
    assignee_id: int | None


def _of(inbox_id: int, contact_id: int) -> dict[str, int]:
    return {"inbox_id": inbox_id, "contact_id": contact_id}


async def get_visible(session: AsyncSession, viewer: Viewer, conv_id: int) -> Conversation | None:
    conv = await session.get(Conversation, conv_id)
    if conv is None or not viewer.may_see_row(conv):
        return None
    return conv


async def history(
    session: AsyncSession, conv: Conversation, limit: int = 500
) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(Message, Agent, Contact)
            .outerjoin(Agent, Agent.id == Message.author_agent_id)
            .outerjoin(Contact, Contact.id == Message.author_contact_id)
            .where(Message.conversation_id == conv.id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
    ).all()
    return [message_dict(m, agent=a, contact=c) for m, a, c in reversed(rows)]


async def mark_read(
    session: AsyncSession, agent_id: int, conv: Conversation, outbox: list[Outbox] | None = None
) -> None:
    """The agent has read the conversation up to its newest message. When that newly covers
    a customer's message, a `conversation.read` event tells the customer (the widget shows
    their messages as read)."""
    newest = (
        await session.execute(
            select(func.max(Message.id)).where(Message.conversation_id == conv.id)
        )
    ).scalar_one()
    before = await read_up_to(session, conv.id)
    await mentions.mark_read(session, agent_id, conv.id)
    marker = await session.get(ReadMarker, (agent_id, conv.id))
    if marker is None:
        session.add(
            ReadMarker(agent_id=agent_id, conversation_id=conv.id, last_read_message_id=newest or 0)
        )
    else:
        marker.last_read_message_id = max(marker.last_read_message_id, newest or 0)
    newest_in = (
        await session.execute(
            select(func.max(Message.id)).where(
                Message.conversation_id == conv.id, Message.direction == Direction.IN.value
            )
        )
    ).scalar_one()
    if newest_in is not None and newest_in > before and outbox is not None:
        contact = await session.get_one(Contact, conv.contact_id)
        outbox.append(events.emit(session, "conversation.read", {
            "conversation": conversation_dict(conv, contact), "read": {"up_to": newest_in}}))  # fmt: skip


async def read_up_to(session: AsyncSession, conversation_id: int) -> int:
    """The newest message of the conversation that someone of the team has read (0: none)."""
    found = (
        await session.execute(
            select(func.max(ReadMarker.last_read_message_id)).where(
                ReadMarker.conversation_id == conversation_id
            )
        )
    ).scalar_one()
    return int(found or 0)


async def update(
    session: AsyncSession,
    conv: Conversation,
    *,
    status: str | None = None,
    assignee_id: int | None | object = ...,
    team_id: int | None | object = ...,
    priority: str | None = None,
    labels: list[str] | None = None,
    snoozed_until: datetime | None = None,
    outbox: list[Outbox] | None = None,
) -> Conversation:
    """Change status, assignee, team, priority or labels, with a `conversation.updated` event.

    Snoozing takes an optional wake-up time (without one, the customer's next message
    wakes the conversation); a transfer to a team without naming an agent leaves it
    unassigned in that team's queue."""
    resolving = status == "resolved" and conv.status != "resolved"
    if status is not None and status != conv.status:
        check_conversation_move(conv.status, status)
        conv.status = status
        conv.resolved_at = utcnow() if status == "resolved" else None
    if status == "snoozed":
        if snoozed_until is not None and snoozed_until <= utcnow():
            raise InvalidFilter("snoozed_until must be in the future")
        conv.snoozed_until = snoozed_until
    elif status is not None:
        conv.snoozed_until = None
    if team_id is not ...:
        if team_id is not None and (
            not isinstance(team_id, int) or await session.get(Team, team_id) is None
        ):
            raise InvalidFilter(f"no team {team_id!r}")
        if team_id != conv.team_id and assignee_id is ...:
            assignee_id = None  # into the new team's queue
        conv.team_id = team_id
    if assignee_id is not ...:
        if assignee_id is not None:
            agent = await session.get(Agent, assignee_id) if isinstance(assignee_id, int) else None
            if agent is None or not agent.active:
                raise InvalidFilter(f"no agent {assignee_id!r}")
        conv.assignee_id = assignee_id  # type: ignore[assignment]
    if priority is not None:
        if priority not in {p.value for p in Priority}:
            raise InvalidFilter(f"priority must be urgent, high, normal or low, got {priority!r}")
        conv.priority = priority
    if labels is not None:
        try:
            conv.labels = normalise_all(labels)
        except InvalidLabel as exc:
            raise InvalidFilter(str(exc)) from None
    conv.updated_at = utcnow()
    await session.flush()
    if resolving and outbox is not None:
        inbox = await session.get_one(Inbox, conv.inbox_id)
        await ask_csat(session, conv, inbox, conv.updated_at, outbox)
    contact = await session.get_one(Contact, conv.contact_id)
    row = events.emit(
        session, "conversation.updated", {"conversation": conversation_dict(conv, contact)}
    )
    if outbox is not None:
        outbox.append(row)
    return conv


async def wake_snoozed(session: AsyncSession, now: datetime, outbox: list[Outbox]) -> int:
    """Reopen snoozed conversations whose wake-up time has come; how many woke."""
    due = (
        await session.execute(
            select(Conversation)
            .where(Conversation.status == "snoozed")
            .where(Conversation.snoozed_until.is_not(None))
            .where(Conversation.snoozed_until <= now)
            .with_for_update(skip_locked=True)
            .limit(200)
        )
    ).scalars()
    woke = 0
    for conv in due:
        await update(session, conv, status="open", outbox=outbox)
        woke += 1
    return woke
