"""What the intake needs to know of an inbox (its channel and team), kept for a few seconds.

Every inbound batch names its inboxes; reading them from the database each time is one
statement per transaction on the hot path, for facts that change when an admin edits an
inbox. The process that makes such an edit forgets the inbox at once (`forget`); another
process sees the change within `TTL_S`, as it would a message that was already queued.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from inbox.model import Inbox

TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class InboxFacts:
    id: int
    channel: str
    team_id: int | None


class InboxCache:
    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._kept: dict[int, tuple[float, InboxFacts]] = {}

    def get(self, session: Session, ids: Iterable[int]) -> dict[int, InboxFacts]:
        """The facts of those of `ids` that name an inbox (read again once `ttl_s` old)."""
        now = time.monotonic()
        found: dict[int, InboxFacts] = {}
        missing: set[int] = set()
        for inbox_id in set(ids):
            kept = self._kept.get(inbox_id)
            if kept is not None and now - kept[0] < self.ttl_s:
                found[inbox_id] = kept[1]
            else:
                missing.add(inbox_id)
        if missing:
            rows = session.execute(
                select(Inbox.id, Inbox.channel, Inbox.team_id).where(Inbox.id.in_(missing))
            )
            for inbox_id, channel, team_id in rows.all():
                found[inbox_id] = InboxFacts(inbox_id, channel, team_id)
                self._kept[inbox_id] = (now, found[inbox_id])
        return found

    def forget(self, inbox_id: int) -> None:
        self._kept.pop(inbox_id, None)


def read_inboxes(session: Session, ids: Iterable[int]) -> dict[int, InboxFacts]:
    """The same facts, read now (for a caller that keeps no cache)."""
    return InboxCache(ttl_s=0.0).get(session, ids)
