"""A website chat that continues by email once the visitor has gone.

A website inbox may name an email inbox in its settings (`email_fallback_inbox_id`).
When an agent answers a visitor who left an email address and has no widget open,
the reply also goes out by email from that inbox, with a Reply-To address that
carries the conversation: `support+c123.5f2a9c0e1b7d@shop.example`. The token is an
HMAC of the conversation id with the email inbox's secret, so nobody can write into
someone else's chat by guessing. The customer's answer, by IMAP or SMTP, is stored in
the website conversation as if typed in the widget.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.model import Conversation, Identity, Inbox

_TOKEN = re.compile(r"\+c(\d{1,18})\.([0-9a-f]{12})@", re.IGNORECASE)
AWAY_SECONDS = 60.0  # a visitor whose widget beat within this is still there


def _signature(secret: str, conversation_id: int) -> str:
    digest = hmac.new(secret.encode(), f"continuity:{conversation_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:12]


async def inbox_secret(session: AsyncSession, email_inbox: Inbox) -> str:
    """The email inbox's signing secret, made on first use."""
    if not email_inbox.hmac_secret:
        email_inbox.hmac_secret = secrets.token_urlsafe(32)
        await session.flush()
    return email_inbox.hmac_secret


def reply_address(address: str, secret: str, conversation_id: int) -> str:
    local, _, domain = address.partition("@")
    return f"{local}+c{conversation_id}.{_signature(secret, conversation_id)}@{domain}"


def conversation_named(recipients: Iterable[str], secret: str | None) -> int | None:
    """The conversation a mail's recipients point at, if one carries a valid token."""
    if not secret:
        return None
    for recipient in recipients:
        m = _TOKEN.search(recipient)
        if m and hmac.compare_digest(m.group(2).lower(), _signature(secret, int(m.group(1)))):
            return int(m.group(1))
    return None


async def fallback_inbox(session: AsyncSession, website_inbox: Inbox) -> Inbox | None:
    raw = (website_inbox.settings or {}).get("email_fallback_inbox_id")
    if not isinstance(raw, int):
        return None
    inbox = await session.get(Inbox, raw)
    return inbox if inbox is not None and inbox.channel == "email" else None


async def website_conversation(
    session: AsyncSession, email_inbox: Inbox, recipients: Iterable[str]
) -> Conversation | None:
    """The website conversation an answer by email belongs to (checked: that website
    inbox names this email inbox as its fallback)."""
    conv_id = conversation_named(recipients, email_inbox.hmac_secret)
    conv = await session.get(Conversation, conv_id) if conv_id is not None else None
    if conv is None or conv.channel != "website":
        return None
    website = await session.get(Inbox, conv.inbox_id)
    if website is None or (website.settings or {}).get("email_fallback_inbox_id") != email_inbox.id:
        return None
    return conv


async def visitor_of(session: AsyncSession, conv: Conversation) -> str | None:
    """The visitor id the chat's messages come from (their website identity)."""
    if conv.reply_to_external_id:
        return conv.reply_to_external_id
    return await session.scalar(
        select(Identity.external_id)
        .where(Identity.contact_id == conv.contact_id, Identity.channel == "website")
        .order_by(Identity.id.desc())
        .limit(1)
    )
