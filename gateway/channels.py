"""The connector registry: which connector serves an inbox. One line per channel."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.base import Connector
from connectors.website import WebsiteConnector
from inbox.files import FileStore
from inbox.model import Inbox
from inbox.types import Channel


class UnknownChannel(LookupError):
    pass


def connector_for(
    inbox: Inbox,
    *,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    files: FileStore | None = None,
) -> Connector:
    """`sessions` and `files` let a connector upload our stored attachments (Telegram)."""
    if inbox.channel == Channel.WEBSITE:
        return WebsiteConnector()
    if inbox.channel == Channel.TELEGRAM:
        from connectors.telegram import TelegramConnector

        return TelegramConnector.for_inbox(inbox, sessions=sessions, files=files)
    if inbox.channel == Channel.EMAIL:
        from connectors.email import EmailConnector

        return EmailConnector.for_inbox(inbox, sessions=sessions, files=files)
    if inbox.channel == Channel.X:
        from connectors.x import XConnector

        return XConnector.for_inbox(inbox, sessions=sessions)
    if inbox.channel in (Channel.MESSENGER, Channel.INSTAGRAM, Channel.WHATSAPP):
        from connectors.meta import MetaConnector

        return MetaConnector.for_inbox(inbox)
    if inbox.channel == Channel.API:
        from connectors.api import ApiConnector

        return ApiConnector.for_inbox(inbox)
    raise UnknownChannel(f"no connector for channel {inbox.channel!r} (inbox {inbox.id})")


def webhook_connector_for(inbox: Inbox, channel: str) -> Connector | None:
    """The connector that verifies and parses `/webhooks/{channel}/{inbox}`; None when the
    inbox is not of that channel."""
    if channel == Channel.TELEGRAM:
        from connectors.telegram import TelegramConnector

        return TelegramConnector.for_inbox(inbox) if inbox.channel == channel else None
    if channel == Channel.X:
        from connectors.x import XConnector

        return XConnector.for_inbox(inbox) if inbox.channel == channel else None
    if channel == "meta":  # one path for Messenger, Instagram and WhatsApp inboxes
        from connectors.meta import META_CHANNELS, MetaConnector

        return MetaConnector.for_inbox(inbox) if inbox.channel in META_CHANNELS else None
    if channel == Channel.API:
        from connectors.api import ApiConnector

        return ApiConnector.for_inbox(inbox) if inbox.channel == channel else None
    raise UnknownChannel(f"no webhooks for channel {channel!r}")
