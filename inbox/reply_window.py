"""What an agent's reply will be on the customer's side, decided before it is stored.

Meta (Messenger, Instagram, WhatsApp) accepts free-form replies only within 24 hours
of the customer's last message: `check_reply_window` refuses a reply outside that
window with a message the agent's console shows. On WhatsApp an approved template
may be sent instead; the agent writes it as `/template NAME [LANGUAGE] [| param | ...]`
(see `template_of`).

On X a conversation is public while its latest customer message is a public post
(a mention): the reply is then a public post too. Connectors mark that with the
conversation's subject (`X_PUBLIC_SUBJECT`), and `is_public` reads it for the
serialized conversation, so no schema change is needed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.model import Conversation, Message, utcnow
from inbox.types import X_PUBLIC_SUBJECT, Template

WINDOW = timedelta(hours=24)
WINDOWED_CHANNELS = frozenset({"messenger", "instagram", "whatsapp"})
TEMPLATE_CHANNELS = frozenset({"whatsapp"})
TEMPLATE_COMMAND = "/template"
DEFAULT_TEMPLATE_LANGUAGE = "en_US"


class ReplyWindowClosed(Exception):
    """A free-form reply outside the platform's customer-service window."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def template_of(text: str) -> Template | None:
    """`/template NAME [LANGUAGE] [| p1 | p2 ...]` as a Template; None for any other text."""
    head, bar, tail = text.strip().partition("|")
    words = head.split()
    if len(words) < 2 or words[0] != TEMPLATE_COMMAND or len(words) > 3:
        return None
    params = tuple(p.strip() for p in tail.split("|")) if bar else ()
    language = words[2] if len(words) == 3 else DEFAULT_TEMPLATE_LANGUAGE
    return Template(words[1], language, params)


def is_public(channel: str, subject: str | None) -> bool:
    """Whether a reply in this conversation is seen by everyone (an X public post)."""
    return channel == "x" and subject == X_PUBLIC_SUBJECT


async def last_customer_message_at(session: AsyncSession, conversation_id: int) -> datetime | None:
    """When the customer last wrote: the platform's time when known, else when we stored it."""
    row = (
        await session.execute(
            select(func.coalesce(Message.platform_sent_at, Message.created_at))
            .where(Message.conversation_id == conversation_id, Message.direction == "in")
            .order_by(Message.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return row


async def check_reply_window(
    session: AsyncSession, conversation: Conversation, text: str, now: datetime | None = None
) -> None:
    """Raise ReplyWindowClosed for a free-form reply outside Meta's 24-hour window."""
    if conversation.channel not in WINDOWED_CHANNELS:
        return
    if conversation.channel in TEMPLATE_CHANNELS and template_of(text) is not None:
        return
    last = await last_customer_message_at(session, conversation.id)
    now = now or utcnow()
    if last is not None and last.tzinfo is None:  # SQLite's coalesce loses the type
        last = datetime.fromisoformat(str(last)).replace(tzinfo=now.tzinfo)
    if last is not None and now - last < WINDOW:
        return
    ago = "never" if last is None else f"{(now - last).total_seconds() / 3600:.0f} hours ago"
    name = conversation.channel.capitalize() if conversation.channel != "whatsapp" else "WhatsApp"
    message = (
        f"Outside the 24-hour window: the customer last wrote {ago}, and {name} accepts "
        "free-form replies only within 24 hours of the customer's last message."
    )
    if conversation.channel in TEMPLATE_CHANNELS:
        message += (
            " Send an approved WhatsApp template instead: "
            f"{TEMPLATE_COMMAND} NAME [LANGUAGE] [| parameter | ...]."
        )
    else:
        message += " Wait for the customer to write again."
    raise ReplyWindowClosed(message)
