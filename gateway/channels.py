"""The connector registry: which connector serves an inbox, one entry per channel.

A connector is built from the inbox's settings (secrets come from the environment or a
file they name) and kept: the same inbox with the same settings gets the same connector
for a minute, so a busy webhook or a worker's run of replies reads no secret file and
builds no client per request. Changed settings are a new key, hence a new connector at
once; a secret rotated in its file or variable is read again within the minute.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Callable

from connectors.base import Connector, KeepsConnections
from inbox.model import Inbox
from inbox.types import Channel

KEEP_S = 60.0
MAX_KEPT = 1024
# An evicted connector's pool is closed this long after, so that a send still using it
# (the longest platform timeout is a minute) is never cut off mid-request and retried.
CLOSE_AFTER_S = 120.0


class UnknownChannel(LookupError):
    pass


def _website(_inbox: Inbox, _keep: bool) -> Connector:
    from connectors.website import WebsiteConnector

    return WebsiteConnector()


def _telegram(inbox: Inbox, keep: bool) -> Connector:
    from connectors.telegram import TelegramConnector

    return TelegramConnector.for_inbox(inbox, keep_connections=keep)


def _email(inbox: Inbox, _keep: bool) -> Connector:
    from connectors.email import EmailConnector

    return EmailConnector.for_inbox(inbox)


def _x(inbox: Inbox, _keep: bool) -> Connector:
    from connectors.x import XConnector

    return XConnector.for_inbox(inbox)


def _meta(inbox: Inbox, keep: bool) -> Connector:
    from connectors.meta import MetaConnector

    return MetaConnector.for_inbox(inbox, keep_connections=keep)


def _api(inbox: Inbox, _keep: bool) -> Connector:
    from connectors.api import ApiConnector

    return ApiConnector.for_inbox(inbox)


# Each builder takes the inbox and whether the connector keeps its HTTP connections
# between calls (the worker's cache does; see ConnectorCache).
BUILDERS: dict[str, Callable[[Inbox, bool], Connector]] = {
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
    """One connector per inbox, built from its settings, kept KEEP_S seconds (new settings
    build a new one at once), at most MAX_KEPT inboxes.

    With `keep_connections` (the worker), connectors that can keep their HTTP pool
    between sends do; one evicted (expired, settings changed, too many) is closed
    `close_after_s` later, in the background, and `aclose` closes them all when the owner
    stops (after its sends).
    """

    def __init__(
        self,
        keep_s: float = KEEP_S,
        clock: Callable[[], float] = time.monotonic,
        *,
        keep_connections: bool = False,
        close_after_s: float = CLOSE_AFTER_S,
    ) -> None:
        self.keep_s = keep_s
        self.clock = clock
        self.keep_connections = keep_connections
        self.close_after_s = close_after_s
        # (inbox id, channel) -> (built at, the settings it was built from, connector)
        self._kept: OrderedDict[tuple[int, str], tuple[float, str, Connector]] = OrderedDict()
        self._closing: dict[asyncio.Task[None], KeepsConnections] = {}

    def get(self, inbox: Inbox) -> Connector:
        build = BUILDERS.get(inbox.channel)
        if build is None:
            raise UnknownChannel(f"no connector for channel {inbox.channel!r} (inbox {inbox.id})")
        settings = json.dumps(inbox.settings or {}, sort_keys=True, default=str)
        key = (inbox.id, inbox.channel)
        now = self.clock()
        kept = self._kept.get(key)
        if kept is not None and kept[1] == settings and now - kept[0] < self.keep_s:
            self._kept.move_to_end(key)
            return kept[2]
        if kept is not None:  # expired, or the inbox's settings changed
            self._evicted(kept[2])
        connector = build(inbox, self.keep_connections)
        self._kept[key] = (now, settings, connector)
        self._kept.move_to_end(key)
        while len(self._kept) > MAX_KEPT:
            self._evicted(self._kept.popitem(last=False)[1][2])
        return connector

    def _evicted(self, connector: Connector) -> None:
        if not isinstance(connector, KeepsConnections):
            return
        try:
            task = asyncio.get_running_loop().create_task(self._close_later(connector))
        except RuntimeError:  # no loop: nothing was opened on this one
            return
        self._closing[task] = connector
        task.add_done_callback(lambda t: self._closing.pop(t, None))

    async def _close_later(self, connector: KeepsConnections) -> None:
        await asyncio.sleep(self.close_after_s)
        await connector.aclose()

    async def aclose(self) -> None:
        """Close every kept connector's connections now, evicted ones included."""
        kept: list[KeepsConnections] = [
            c for _at, _s, c in self._kept.values() if isinstance(c, KeepsConnections)
        ]
        self._kept.clear()
        for task in list(self._closing):
            task.cancel()
        kept += self._closing.values()
        self._closing.clear()
        await asyncio.gather(*(c.aclose() for c in kept), return_exceptions=True)


_CACHE = ConnectorCache()


def connector_for(inbox: Inbox) -> Connector:
    """The connector of `inbox`, opening connections per call (a worker keeps its own
    ConnectorCache, which keeps them)."""
    return _CACHE.get(inbox)


def webhook_connector_for(inbox: Inbox, channel: str) -> Connector | None:
    """The connector that verifies and parses `/webhooks/{channel}/{inbox}`; None when the
    inbox is not of that channel."""
    served = WEBHOOK_PATHS.get(channel)
    if served is None:
        raise UnknownChannel(f"no webhooks for channel {channel!r}")
    return _CACHE.get(inbox) if inbox.channel in served else None
