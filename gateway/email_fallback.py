"""After a website reply is sent: if the visitor has gone and left an email address, the
reply also goes by email, and their answer comes back into the chat (inbox/continuity.py).

Best effort beside the chat: the reply stays `sent` in the widget whatever the mail
does; a failure is logged for the team.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.base import Connector
from gateway.presence import visitor_seen_within
from inbox import continuity
from inbox.model import Contact, Conversation, Inbox, Message
from inbox.types import Channel, DeliveryError, OutboundMessage

log = logging.getLogger("crocevia.email_fallback")

FOOTER = {
    "it": "Rispondi a questa email per continuare la conversazione con {inbox}.",
    "en": "Reply to this email to go on with your conversation with {inbox}.",
}


async def continue_by_email(
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    connector_for: Callable[[Inbox], Connector],
    message_id: int,
) -> bool:
    """Mail an agent's website reply to an absent visitor; True when it went out."""
    async with sessions() as session, session.begin():
        msg = await session.get(Message, message_id)
        if msg is None or msg.direction != "out" or msg.author_agent_id is None:
            return False
        conv = await session.get_one(Conversation, msg.conversation_id)
        website = await session.get_one(Inbox, conv.inbox_id)
        email_inbox = await continuity.fallback_inbox(session, website)
        contact = await session.get_one(Contact, conv.contact_id)
        if email_inbox is None or not contact.email:
            return False
        try:
            if await visitor_seen_within(redis, contact.id, time.time(), continuity.AWAY_SECONDS):
                return False  # the widget is open: the chat is enough
        except (RedisError, OSError):
            return False
        secret = await continuity.inbox_secret(session, email_inbox)
        address = (email_inbox.settings or {}).get("address", "")
        language = conv.language if conv.language in FOOTER else "it"
        out = OutboundMessage(
            message_id=msg.id, conversation_id=conv.id, inbox_id=email_inbox.id,
            channel=Channel.EMAIL, recipient_external_id=contact.email,
            recipient_email=contact.email, subject=website.name,
            text=f"{msg.text}\n\n-- \n{FOOTER[language].format(inbox=website.name)}",
            reply_to_address=continuity.reply_address(address, secret, conv.id),
        )  # fmt: skip
    try:
        await connector_for(email_inbox).send(out)
    except DeliveryError as exc:
        log.warning("email_fallback_failed", extra={"message_id": message_id, "reason": exc.reason})
        return False
    log.info("email_fallback_sent", extra={"message_id": message_id, "conversation": conv.id})
    return True
