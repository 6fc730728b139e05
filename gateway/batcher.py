"""Group commit for inbound messages.

Messages that arrive while a transaction is being committed wait and go
together in the next one: one message alone under light load (no added delay),
batches of dozens at saturation. Each sender is answered only after the
transaction holding its message has committed; the events are then published.
A message the database refuses fails alone (inbox/ingest.py retries a failed
batch one message per transaction); only an unreachable database fails them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.ingest import Ingested, Tagger, ingest_many
from inbox.relay import Relay
from inbox.types import InboundMessage

log = logging.getLogger("crocevia.batcher")

MAX_BATCH = 200


@dataclass(slots=True)
class _Pending:
    item: InboundMessage
    future: asyncio.Future[Ingested]


class IngestBatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        relay: Relay,
        tagger: Tagger | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.relay = relay
        self.tagger = tagger
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def enqueue(self, item: InboundMessage) -> asyncio.Future[Ingested]:
        """Queue one message for the next transaction; the future is its result once that
        has committed. Messages are stored in the order they are queued."""
        future: asyncio.Future[Ingested] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        return future

    async def submit(self, item: InboundMessage) -> Ingested:
        """Store one message; returns once it is committed (raises if it could not be)."""
        return await self.enqueue(item)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception as exc:  # a bug here must not stop ingest for everyone after
                log.exception("ingest_batch_crashed", extra={"size": len(batch)})
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)

    async def _commit(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        marks = self.relay.take_marks()

        async def mark(session: AsyncSession) -> None:
            await self.relay.mark_in(session, marks)

        try:
            results, rows = await ingest_many(
                self.sessions, [p.item for p in batch], self.tagger, also=mark
            )
        except Exception as exc:  # the database is down: every sender hears it (one
            # refused message fails alone: ingest_many stores the items one by one then)
            self.relay.give_back(marks)
            log.warning("ingest_failed", extra={"size": len(batch), "error": repr(exc)})
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        await self.relay.publish_quietly(rows)
        for p, result in zip(batch, results, strict=True):
            if p.future.done():
                continue
            if isinstance(result, BaseException):
                p.future.set_exception(result)
            else:
                p.future.set_result(result)
        elapsed = time.perf_counter() - started
        log.debug("ingest_committed", extra={"size": len(batch), "ms": round(elapsed * 1000, 2)})
        if self.on_batch is not None:
            self.on_batch(len(batch), elapsed)
