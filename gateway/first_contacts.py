"""Group commit (gateway/group_commit.py) for the contacts that visitors' first
messages make.

A visitor's first message makes their contact before the message is stored
(gateway/visitor_contact.py). When many visitors write their first message at once (a
campaign, a reopened shop, a gateway restarted under load), each contact in a
transaction of its own would queue them one after the other; here they go together,
like the messages themselves (gateway/batcher.py). A batch another transaction raced
falls back to one visitor at a time, which reads the winner's contact.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import visitor_contact
from gateway.group_commit import GroupCommit
from gateway.metrics import FIRST_CONTACT_BATCH
from gateway.visitor_tokens import Visitor
from inbox.writes import InGreenlet, Writes

log = logging.getLogger("crocevia.first_contacts")


class FirstContacts(GroupCommit[Visitor, Visitor]):
    name = "first_contacts"

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], writes: Writes | None = None
    ) -> None:
        super().__init__()
        self.sessions = sessions
        # The intake's writer (inbox/writes.py): on SQLite, the same thread and connection
        # as the messages' transactions, so the two never wait for each other's lock.
        self.writes = writes or InGreenlet(sessions)

    async def ensure(self, visitor: Visitor) -> Visitor:
        """The visitor with their contact, made now unless they have one."""
        return visitor if visitor.contact_id else await self.submit(visitor)

    async def commit(self, items: list[Visitor]) -> Sequence[Visitor | BaseException]:
        FIRST_CONTACT_BATCH.observe(len(items))
        try:
            try:
                return await self.writes.run(
                    functools.partial(visitor_contact.make_many, visitors=items)
                )
            except IntegrityError:  # a tab on another gateway won one of them: one at a time
                return [await visitor_contact.ensure(self.sessions, v) for v in items]
        except Exception as exc:  # the database is away: every waiting visitor hears it
            log.warning("first_contacts_failed", extra={"size": len(items), "error": repr(exc)})
            return [exc] * len(items)
