"""The connector registry: which connector serves an inbox. One line per channel."""

from __future__ import annotations

from connectors.base import Connector
from connectors.website import WebsiteConnector
from inbox.model import Inbox
from inbox.types import Channel


class UnknownChannel(LookupError):
    pass


def connector_for(inbox: Inbox) -> Connector:
    if inbox.channel == Channel.WEBSITE:
        return WebsiteConnector()
    raise UnknownChannel(f"no connector for channel {inbox.channel!r} (inbox {inbox.id})")


def webhook_connector_for(inbox: Inbox, channel: str) -> Connector | None:
    """The connector that verifies and parses `/webhooks/{channel}/{inbox}`; None when the
    inbox is not of that channel."""
    raise UnknownChannel(f"no webhooks for channel {channel!r}")
