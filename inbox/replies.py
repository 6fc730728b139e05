"""Agent replies and private notes, and the delivery status of replies.

A reply is stored first (status `pending`) with two outbox rows: the event every
client sees, and the job the outbound workers take from `crocevia:outbound`.
A resend with the same client id returns the stored message, never a second one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import events, mentions
from inbox.model import (
    Agent,
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    Outbox,
    utcnow,
)
from inbox.reply_window import check_reply_window
from inbox.serialize import conversation_dict, message_dict
from inbox.states import InvalidTransition, check_delivery_move


class NotFound(LookupError):
    pass


async def _by_key(session: AsyncSession, inbox_id: int, key: str) -> Message | None:
    return (
        await session.execute(
            select(Message).where(Message.inbox_id == inbox_id).where(Message.client_key == key)
        )
    ).scalar_one_or_none()


def client_key(agent_id: int, client_id: str) -> str:
    return f"agent:{agent_id}:{client_id}"


async def create_reply(
    session: AsyncSession,
    agent: Agent,
    conversation: Conversation,
    text: str,
    *,
    client_id: str,
    private: bool = False,
    attachments: list[dict[str, Any]] | None = None,
    outbox: list[Outbox] | None = None,
) -> tuple[Message, bool]:
    """Store an agent's reply (or note). Returns (message, created). A reply that the
    platform would refuse (Meta's 24-hour window) raises reply_window.ReplyWindowClosed."""
    key = client_key(agent.id, client_id)
    existing = await _by_key(session, conversation.inbox_id, key)
    if existing is not None:
        return existing, False
    if not private:
        await check_reply_window(session, conversation, text)
    now = utcnow()
    msg = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        direction=(Direction.NOTE if private else Direction.OUT).value,
        author_agent_id=agent.id,
        text=text,
        attachments=list(attachments or []),
        client_key=key,
        client_id=client_id,
        status=(DeliveryStatus.SENT if private else DeliveryStatus.PENDING).value,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(msg)
            await session.flush()
    except IntegrityError:  # the same reply sent twice at once (a resend racing the first)
        stored = await _by_key(session, conversation.inbox_id, key)
        if stored is None:
            raise
        return stored, False
    if not private:
        if conversation.first_response_at is None:
            conversation.first_response_at = now
        conversation.waiting_since = None
        conversation.last_message_at = now
    await session.flush()
    contact = await session.get_one(Contact, conversation.contact_id)
    data: dict[str, Any] = {
        "message": message_dict(msg, agent=agent),
        "conversation": conversation_dict(conversation, contact),
    }
    if private:  # colleagues named with @ in a note: their consoles tell them
        data["mentions"] = await mentions.record(session, msg, conversation, agent)
    rows = [events.emit(session, "message.created", data)]
    if not private:
        rows.append(events.request_delivery(session, msg.id, msg.conversation_id))
    if outbox is not None:
        outbox.extend(rows)
    return msg, True


async def set_delivery_status(
    session: AsyncSession,
    message_id: int,
    status: DeliveryStatus,
    *,
    external_id: str | None = None,
    error: str | None = None,
    outbox: list[Outbox] | None = None,
) -> Message | None:
    """Move a reply's delivery status. Returns None when it was no longer in a state
    that allows the move (another worker got there first): the caller does nothing."""
    msg = await session.get(Message, message_id, with_for_update=True)
    if msg is None:
        raise NotFound(f"no message {message_id}")
    try:
        check_delivery_move(msg.status, status.value)
    except InvalidTransition:
        return None
    # Guarded update: of two workers racing on SQLite (no row locks), one wins.
    done = await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == msg.status)
        .values(
            status=status.value,
            error=error,
            external_id=external_id if external_id is not None else msg.external_id,
            attempts=Message.attempts + (1 if status in (DeliveryStatus.SENT, "failed") else 0),
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await session.refresh(msg)
    conv = await session.get_one(Conversation, msg.conversation_id)
    contact = await session.get_one(Contact, conv.contact_id)
    agent = await session.get(Agent, msg.author_agent_id) if msg.author_agent_id else None
    row = events.emit(
        session,
        "message.updated",
        {
            "message": message_dict(msg, agent=agent),
            "conversation": conversation_dict(conv, contact),
        },
    )
    if outbox is not None:
        outbox.append(row)
    return msg


async def retry_reply(
    session: AsyncSession, message_id: int, outbox: list[Outbox] | None = None
) -> Message:
    """A failed reply goes back to pending and to the outbound workers."""
    msg = await session.get(Message, message_id)
    if msg is None:
        raise NotFound(f"no message {message_id}")
    check_delivery_move(msg.status, DeliveryStatus.PENDING.value)
    moved = await set_delivery_status(session, message_id, DeliveryStatus.PENDING, outbox=outbox)
    if moved is None:
        raise InvalidTransition("a reply", msg.status, "pending", frozenset())
    row = events.request_delivery(session, message_id, msg.conversation_id)
    if outbox is not None:
        outbox.append(row)
    return moved
