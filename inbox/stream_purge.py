"""Personal data leaves the Redis event stream too, not only the database.

The stream holds every event for a while (so sockets can resume): a message's text, a
contact's name and email. When a contact is erased (GDPR art. 17), the entries routed
to their conversations are deleted (XDEL); retention is kept by `trim_to_window`, which
drops everything older than the resume window, so the stream never holds more than
that of anyone's history.

Each erasure also counts one more in `PURGES_KEY`: a gateway's hub keeps the events it
read lately in memory, to replay them to resuming sockets without a round trip, and
reads this counter beside each resume; when it has moved, the hub forgets what it kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis

from inbox.events import EVENTS_STREAM, ROUTE_FIELDS
from inbox.stream_read import Fields, after, entries_from, text_of

CHUNK = 1000
PURGES_KEY = "crocevia:events:purges"


def _contact(fields: Fields) -> str:
    """The contact id in an entry's routing field (inbox/events.py `routing`)."""
    route = text_of(fields.get(b"r", fields.get("r", b""))).split("|")
    return route[ROUTE_FIELDS.index("contact")] if len(route) == len(ROUTE_FIELDS) else ""


async def purge_contacts(redis: Redis, contact_ids: Iterable[int]) -> int:
    """Delete the stream entries routed to these contacts; how many went."""
    wanted = {str(i) for i in contact_ids}
    deleted, start = 0, "-"
    while True:
        entries = await entries_from(redis, EVENTS_STREAM, start, CHUNK)
        doomed = [entry_id for entry_id, fields in entries if _contact(fields) in wanted]
        if doomed:
            deleted += int(await redis.xdel(EVENTS_STREAM, *doomed))
        if len(entries) < CHUNK:
            await redis.incr(PURGES_KEY)
            return deleted
        start = after(entries[-1][0])


async def trim_to_window(redis: Redis, window_s: float) -> int:
    """Drop every entry older than `window_s` seconds; how many went."""
    oldest_kept = int((time.time() - window_s) * 1000)
    return int(await redis.xtrim(EVENTS_STREAM, minid=f"{oldest_kept}-0", approximate=False))
