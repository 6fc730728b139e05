"""What the hot paths need to know of an inbox, kept for a few seconds: its channel and
team (the intake, for every inbound batch), whether it is disabled and which origins may
embed its widget (every widget socket's authentication).

Reading them from the database each time is a statement per transaction or per socket,
for facts that change only when an admin edits an inbox. The process that makes such an edit forgets the inbox at once (`forget`); another
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
    disabled: bool
    allowed_origins: tuple[str, ...]  # website inboxes: who may embed the widget (any: empty)


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
            facts = self.fresh(inbox_id)
            if facts is not None:
                found[inbox_id] = facts
            else:
                missing.add(inbox_id)
        if missing:
            rows = session.execute(
                select(
                    Inbox.id, Inbox.channel, Inbox.team_id, Inbox.disabled_at, Inbox.settings
                ).where(Inbox.id.in_(missing))
            )
            for inbox_id, channel, team_id, disabled_at, settings in rows.all():
                origins = (settings or {}).get("allowed_origins") or ()
                found[inbox_id] = InboxFacts(
                    inbox_id, channel, team_id, disabled_at is not None, tuple(origins)
                )
                self._kept[inbox_id] = (now, found[inbox_id])
        return found

    def fresh(self, inbox_id: int) -> InboxFacts | None:
        """The facts kept of an inbox if they are not `ttl_s` old yet; None: ask `one`."""
        kept = self._kept.get(inbox_id)
        return kept[1] if kept is not None and time.monotonic() - kept[0] < self.ttl_s else None

    def one(self, session: Session, inbox_id: int) -> InboxFacts | None:
        return self.get(session, [inbox_id]).get(inbox_id)

    def forget(self, inbox_id: int) -> None:
        self._kept.pop(inbox_id, None)


def read_inboxes(session: Session, ids: Iterable[int]) -> dict[int, InboxFacts]:
    """The same facts, read now (for a caller that keeps no cache)."""
    return InboxCache(ttl_s=0.0).get(session, ids)
