"""Group commit for inbound messages (gateway/group_commit.py).

Each sender is answered only after the transaction holding its message has committed;
the events are then published. A message the database refuses fails alone
(inbox/ingest.py retries a failed batch one message per transaction); only an
unreachable database fails them all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.group_commit import GroupCommit
from inbox.ingest import Ingested, Tagger, ingest_many
from inbox.relay import Relay
from inbox.types import InboundMessage

log = logging.getLogger("crocevia.batcher")


class IngestBatcher(GroupCommit[InboundMessage, Ingested]):
    name = "ingest_batch"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        relay: Relay,
        tagger: Tagger | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        super().__init__()
        self.sessions = sessions
        self.relay = relay
        self.tagger = tagger
        self.on_batch = on_batch

    async def commit(self, items: list[InboundMessage]) -> Sequence[Ingested | BaseException]:
        started = time.perf_counter()
        marks = self.relay.take_marks()

        async def mark(session: AsyncSession) -> None:
            await self.relay.mark_in(session, marks)

        try:
            results, rows = await ingest_many(self.sessions, items, self.tagger, also=mark)
        except Exception as exc:  # the database is down: every sender hears it (one
            # refused message fails alone: ingest_many stores the items one by one then)
            self.relay.give_back(marks)
            log.warning("ingest_failed", extra={"size": len(items), "error": repr(exc)})
            return [exc] * len(items)
        await self.relay.publish_quietly(rows)
        elapsed = time.perf_counter() - started
        log.debug("ingest_committed", extra={"size": len(items), "ms": round(elapsed * 1000, 2)})
        if self.on_batch is not None:
            self.on_batch(len(items), elapsed)
        return results
