"""Messages Crocevia sends by itself: the out-of-hours auto-reply and the CSAT question.

Each is an outbound message without an agent author, delivered by the outbound workers
on the customer's channel like any reply. Its client key (`auto:away:<conversation>`)
is unique per inbox, so however many routers race, a conversation gets it once.
Texts are the inbox's own (`settings.auto_reply` / `settings.csat_question`, objects keyed
by language) or these defaults, in the customer's language when we know it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import events
from inbox.hours import Schedule, describe
from inbox.model import (
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    Inbox,
    Message,
    Outbox,
)
from inbox.serialize import conversation_dict, message_dict

LANGUAGES = ("it", "en")
AWAY = {
    "it": "Grazie per averci scritto! In questo momento non c'è nessuno del team disponibile: "
    "ti risponderemo {when}.",
    "en": "Thanks for writing to us! Nobody from the team is available right now: "
    "we will answer {when}.",
}
AWAY_SOON = {"it": "appena possibile", "en": "as soon as we can"}
CSAT = {
    "it": "La conversazione è chiusa. Come valuti l'assistenza ricevuta? "
    "Rispondi con un numero da 1 (pessima) a 5 (ottima).",
    "en": "This conversation is closed. How would you rate the help you got? "
    "Answer with a number from 1 (poor) to 5 (excellent).",
}


def language_of(conv: Conversation, inbox: Inbox) -> str:
    if conv.language in LANGUAGES:
        return str(conv.language)
    default = (inbox.settings or {}).get("language", "it")
    return default if default in LANGUAGES else "it"


def _text(inbox: Inbox, key: str, defaults: dict[str, str], language: str) -> str:
    custom: dict[str, Any] = (inbox.settings or {}).get(key) or {}
    return str(custom.get(language) or defaults[language])


async def send_automatic(
    session: AsyncSession,
    conv: Conversation,
    text: str,
    kind: str,
    now: datetime,
    outbox: list[Outbox],
) -> Message | None:
    """Store and queue one automatic message; None if this conversation had it already."""
    key = f"auto:{kind}:{conv.id}"
    exists = await session.scalar(
        select(Message.id).where(Message.inbox_id == conv.inbox_id, Message.client_key == key)
    )
    if exists is not None:
        return None
    msg = Message(
        conversation_id=conv.id, inbox_id=conv.inbox_id, direction=Direction.OUT.value,
        text=text, attachments=[], client_key=key, client_id=f"{kind}:{conv.id}",
        status=DeliveryStatus.PENDING.value, created_at=now,
    )  # fmt: skip
    try:
        async with session.begin_nested():
            session.add(msg)
            await session.flush()
    except IntegrityError:
        return None  # another router sent it a moment ago
    contact = await session.get_one(Contact, conv.contact_id)
    outbox.append(
        events.emit(
            session,
            "message.created",
            {"message": message_dict(msg), "conversation": conversation_dict(conv, contact)},
        )
    )
    outbox.append(events.request_delivery(session, msg.id, msg.conversation_id))
    return msg


async def away_reply(
    session: AsyncSession,
    conv: Conversation,
    inbox: Inbox,
    schedule: Schedule,
    now: datetime,
    anyone_available: bool,
    outbox: list[Outbox],
) -> Message | None:
    """Out of hours, or with nobody available, tell the customer when to expect an answer
    (for inboxes whose settings have an `auto_reply` object; `"enabled": false` pauses it)."""
    config = (inbox.settings or {}).get("auto_reply")
    if not isinstance(config, dict) or config.get("enabled") is False:
        return None
    is_open = schedule.is_open(now)
    if is_open and anyone_available:
        return None
    language = language_of(conv, inbox)
    opening = None if is_open else schedule.next_open(now)
    when = describe(opening, schedule.zone, language) if opening else AWAY_SOON[language]
    if opening is not None:
        when = ("da " if language == "it" else "from ") + when
    text = _text(inbox, "auto_reply", AWAY, language).replace("{when}", when)
    return await send_automatic(session, conv, text, "away", now, outbox)


async def ask_csat(
    session: AsyncSession, conv: Conversation, inbox: Inbox, now: datetime, outbox: list[Outbox]
) -> Message | None:
    """After a resolution, ask the customer for a 1-5 rating (the widget shows buttons)."""
    if (inbox.settings or {}).get("csat") is False:
        return None
    text = _text(inbox, "csat_question", CSAT, language_of(conv, inbox))
    msg = await send_automatic(session, conv, text, "csat", now, outbox)
    if msg is not None:
        conv.csat_requested_at = now
    return msg
