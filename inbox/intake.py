"""The one way inbound messages enter the inbox: committed, then published.

Every channel hands its parsed `InboundMessage`s here: the widget's socket and the
webhooks through the gateway's group commit (gateway/batcher.py), the Telegram and X
pollers a round at a time, the IMAP fetcher and the SMTP server a mail at a time
(connectors/email.py). `Intake` writes the messages (inbox/ingest.py), marks in the same
transaction the events this process published before (inbox/relay.py), and publishes
the new events only once the transaction has committed: an event is never seen for a
message that was not stored, and one that could not be published is left to the relay's
sweeper.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.events import OutboxRow
from inbox.inbox_cache import InboxCache
from inbox.ingest import Ingested, Result, Tagger, ingest_batch, ingest_many
from inbox.relay import Relay
from inbox.types import InboundMessage
from inbox.writes import InGreenlet, Writes

# The rows this process published are marked in its next ingest transaction once there
# are this many; fewer wait for a later one, or for the relay's pass (every second).
MARKS_PER_WRITE = 32


class NotStored(RuntimeError):
    """Some messages of a batch could not be stored (a poller keeps its cursor)."""


Build = Callable[[AsyncSession], Awaitable[InboundMessage | None]]


class Intake:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        relay: Relay | None = None,
        tagger: Tagger | None = None,
        writes: Writes | None = None,
    ) -> None:
        self.sessions = sessions
        # How a batch's transaction runs (inbox/writes.py): the gateway's group commit
        # gives SQLite a writer thread; by default it runs on `sessions`' engine.
        self.writes = writes or InGreenlet(sessions)
        self.relay = relay  # None: the events stay in the outbox for another process's sweeper
        self.tagger = tagger
        self.inboxes = InboxCache()  # an admin's edit in this process: `inboxes.forget(id)`

    async def store(
        self, items: Sequence[InboundMessage], tagger: Tagger | None = None
    ) -> list[Result]:
        """Store a batch; one result (or that item's error) per item, in order. Raises
        when the database is unreachable (nothing was stored). `tagger`, when given,
        tags this batch instead of the intake's own (tags made beforehand)."""
        results, rows = await self.store_unpublished(items, tagger)
        await self.publish(rows)
        return results

    async def store_unpublished(
        self, items: Sequence[InboundMessage], tagger: Tagger | None = None
    ) -> tuple[list[Result], list[OutboxRow]]:
        """`store`, leaving the committed events to the caller's `publish` (the gateway
        answers the senders first: gateway/batcher.py)."""
        if not items:
            return [], []
        marks = self._take_marks()
        try:
            results, rows = await ingest_many(
                self.writes,
                items,
                tagger or self.tagger,
                also=lambda s: Relay.mark_in_sync(s, marks),
                inbox_cache=self.inboxes,
            )
        except BaseException:
            self._give_back(marks)
            raise
        return results, rows

    async def store_all(self, items: Sequence[InboundMessage]) -> list[Ingested]:
        """`store`, for a caller that must not go on unless every item was stored (a
        poller moves its cursor only then): raises NotStored otherwise."""
        results = await self.store(items)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise NotStored(f"{len(failed)} of {len(items)} messages not stored: {failed[0]!r}")
        return [r for r in results if isinstance(r, Ingested)]

    async def store_one(self, build: Build) -> Ingested | None:
        """One message that `build` makes inside the transaction that stores it (a mail
        saves its attachments there); None when `build` finds it stored already. Raises
        what the transaction raised (an IntegrityError: another process was first)."""
        marks = self._take_marks()
        try:
            async with self.sessions() as session, session.begin():
                await Relay.mark_in(session, marks)
                item = await build(session)
                if item is None:
                    return None
                (result,), rows = await session.run_sync(
                    ingest_batch, [item], self.tagger, self.inboxes
                )
                if isinstance(result, BaseException):
                    raise result
        except BaseException:
            self._give_back(marks)
            raise
        await self.publish(rows)
        return result

    def _take_marks(self) -> list[int]:
        # Under a steady flow of small batches, an UPDATE every few transactions, not each.
        return self.relay.take_marks(MARKS_PER_WRITE) if self.relay is not None else []

    def _give_back(self, marks: list[int]) -> None:
        if self.relay is not None:
            self.relay.give_back(marks)

    async def publish(self, rows: Sequence[OutboxRow]) -> None:
        """Publish committed events (a failure is left to the relay's sweeper)."""
        if self.relay is not None and rows:
            await self.relay.publish_quietly(rows)
