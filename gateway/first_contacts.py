"""Group commit for the contacts that visitors' first messages make.

A visitor's first message makes their contact before the message is stored
(gateway/visitor_contact.py). When many visitors write their first message at once (a
campaign, a reopened shop, a gateway restarted under load), each contact in a
transaction of its own would queue them one after the other; here the first messages
that arrive while a transaction runs go together in the next one, like the messages
themselves (gateway/batcher.py). A batch another transaction raced falls back to one
visitor at a time, which reads the winner's contact.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import visitor_contact
from gateway.metrics import FIRST_CONTACT_BATCH
from gateway.visitor_tokens import Visitor

log = logging.getLogger("crocevia.first_contacts")

MAX_BATCH = 200


@dataclass(slots=True)
class _Pending:
    visitor: Visitor
    future: asyncio.Future[Visitor]


class FirstContacts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="first-contacts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def ensure(self, visitor: Visitor) -> Visitor:
        """The visitor with their contact, made now unless they have one."""
        if visitor.contact_id:
            return visitor
        future: asyncio.Future[Visitor] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(visitor, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._make(batch)
            except Exception as exc:  # the database is away: every waiting visitor hears it
                log.warning("first_contacts_failed", extra={"size": len(batch), "error": repr(exc)})
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)

    async def _make(self, batch: list[_Pending]) -> None:
        try:
            made = await visitor_contact.make_many(self.sessions, [p.visitor for p in batch])
        except IntegrityError:  # a tab on another gateway won one of them: one at a time
            made = [await visitor_contact.ensure(self.sessions, p.visitor) for p in batch]
        FIRST_CONTACT_BATCH.observe(len(batch))
        for p, visitor in zip(batch, made, strict=True):
            if not p.future.done():
                p.future.set_result(visitor)
