"""Personal data leaves the Redis event stream too, not only the database.

The stream holds every event for a while (so sockets can resume): a message's text, a
contact's name and email. When a contact is erased (GDPR art. 17), the entries routed
to their conversations are deleted (XDEL); retention is kept by `trim_to_window`, which
drops everything older than the resume window, so the stream never holds more than
that of anyone's history.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis

from inbox.events import EVENTS_STREAM, ROUTE_FIELDS

CHUNK = 1000


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _contact(fields: dict[bytes | str, bytes | str]) -> str:
    """The contact id in an entry's routing field (inbox/events.py `routing`)."""
    route = _s(fields.get(b"r", fields.get("r", b""))).split("|")
    return route[ROUTE_FIELDS.index("contact")] if len(route) == len(ROUTE_FIELDS) else ""


async def purge_contacts(redis: Redis, contact_ids: Iterable[int]) -> int:
    """Delete the stream entries routed to these contacts; how many went."""
    wanted = {str(i) for i in contact_ids}
    deleted, start = 0, "-"
    while True:
        entries = await redis.xrange(EVENTS_STREAM, start, "+", count=CHUNK)
        doomed = [entry_id for entry_id, fields in entries if _contact(fields) in wanted]
        if doomed:
            deleted += int(await redis.xdel(EVENTS_STREAM, *doomed))
        if len(entries) < CHUNK:
            return deleted
        start = f"({_s(entries[-1][0])}"


async def trim_to_window(redis: Redis, window_s: float) -> int:
    """Drop every entry older than `window_s` seconds; how many went."""
    oldest_kept = int((time.time() - window_s) * 1000)
    return int(await redis.xtrim(EVENTS_STREAM, minid=f"{oldest_kept}-0", approximate=False))
