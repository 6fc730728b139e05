"""The connector registry: which connector serves an inbox, one entry per channel.

A connector is built from the inbox's settings (secrets come from the environment or a
file they name) and kept: the same inbox with the same settings gets the same connector
for a minute, so a busy webhook or a worker's run of replies reads no secret file and
builds no client per request. Changed settings are a new key, hence a new connector at
once; a secret rotated in its file or variable is read again within the minute.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from connectors.base import Connector
from inbox.model import Inbox
from inbox.types import Channel

KEEP_S = 60.0
MAX_KEPT = 1024


class UnknownChannel(LookupError):
    pass


def _website(_inbox: Inbox) -> Connector:
    from connectors.website import WebsiteConnector

    return WebsiteConnector()


def _telegram(inbox: Inbox) -> Connector:
    from connectors.telegram import TelegramConnector

    return TelegramConnector.for_inbox(inbox)


def _email(inbox: Inbox) -> Connector:
    from connectors.email import EmailConnector

    return EmailConnector.for_inbox(inbox)


def _x(inbox: Inbox) -> Connector:
    from connectors.x import XConnector

    return XConnector.for_inbox(inbox)


def _meta(inbox: Inbox) -> Connector:
    from connectors.meta import MetaConnector

    return MetaConnector.for_inbox(inbox)


def _api(inbox: Inbox) -> Connector:
    from connectors.api import ApiConnector

    return ApiConnector.for_inbox(inbox)


BUILDERS: dict[str, Callable[[Inbox], Connector]] = {
    Channel.WEBSITE: _website,
    Channel.TELEGRAM: _telegram,
    Channel.EMAIL: _email,
    Channel.X: _x,
    Channel.MESSENGER: _meta,
    Channel.INSTAGRAM: _meta,
    Channel.WHATSAPP: _meta,
    Channel.API: _api,
}

# `/webhooks/{channel}/{inbox}`: the inbox channels each webhook path serves (Meta sends
# Messenger, Instagram and WhatsApp to one path).
WEBHOOK_PATHS: dict[str, frozenset[str]] = {
    Channel.TELEGRAM: frozenset({Channel.TELEGRAM}),
    Channel.X: frozenset({Channel.X}),
    "meta": frozenset({Channel.MESSENGER, Channel.INSTAGRAM, Channel.WHATSAPP}),
    Channel.API: frozenset({Channel.API}),
}


class ConnectorCache:
    """Connectors by inbox and settings, each kept KEEP_S seconds, at most MAX_KEPT."""

    def __init__(self, keep_s: float = KEEP_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep_s = keep_s
        self.clock = clock
        self._kept: OrderedDict[tuple[Any, ...], tuple[float, Connector]] = OrderedDict()

    def get(self, inbox: Inbox) -> Connector:
        build = BUILDERS.get(inbox.channel)
        if build is None:
            raise UnknownChannel(f"no connector for channel {inbox.channel!r} (inbox {inbox.id})")
        settings = json.dumps(inbox.settings or {}, sort_keys=True, default=str)
        key = (inbox.id, inbox.channel, settings)
        now = self.clock()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.keep_s:
            self._kept.move_to_end(key)
            return kept[1]
        connector = build(inbox)
        self._kept[key] = (now, connector)
        self._kept.move_to_end(key)
        while len(self._kept) > MAX_KEPT:
            self._kept.popitem(last=False)
        return connector


_CACHE = ConnectorCache()


def connector_for(inbox: Inbox) -> Connector:
    """The connector that sends `inbox`'s replies (and parses its webhooks)."""
    return _CACHE.get(inbox)


def webhook_connector_for(inbox: Inbox, channel: str) -> Connector | None:
    """The connector that verifies and parses `/webhooks/{channel}/{inbox}`; None when the
    inbox is not of that channel."""
    served = WEBHOOK_PATHS.get(channel)
    if served is None:
        raise UnknownChannel(f"no webhooks for channel {channel!r}")
    return _CACHE.get(inbox) if inbox.channel in served else None
