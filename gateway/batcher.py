"""Group commit for inbound messages (gateway/group_commit.py) into the intake
(inbox/intake.py).

Large batches are tagged (language, sentiment) in a process of their own beforehand
(gateway/tagging_process.py); under load, while the batch before them commits
(`prepare`: the group commit's batch made ready ahead). Each sender is answered only
after the transaction holding its message has committed; the events are published right
after, once the answers have run: a visitor's first message makes their contact in that
transaction, their socket joins it (gateway/ws_widget.py), and the events wait until the
gateway is subscribed to that contact's channel (`before_publish`: gateway/hub.py's
`joined`). A message the database refuses fails alone (inbox/ingest.py retries a failed
batch one message per transaction); only an unreachable database fails them all.

Publishing overlaps the next transaction: one task publishes the committed batches'
events, in commit order, while the group commit goes on with the next batch (waiting
for Redis's answer was a sixth of each batch's turn at 500 msg/s, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.group_commit import GRACE_S, GroupCommit
from gateway.tagging_process import TaggingProcess
from inbox.events import OutboxRow
from inbox.ingest import Analysis, Ingested, Tagger
from inbox.intake import Intake
from inbox.relay import Relay
from inbox.types import InboundMessage
from inbox.writes import Writes

log = logging.getLogger("crocevia.batcher")


class IngestBatcher(GroupCommit[InboundMessage, Ingested]):
    name = "ingest_batch"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        relay: Relay,
        tagger: Tagger | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        writes: Writes | None = None,
        tagging: TaggingProcess | None = None,
        before_publish: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.intake = Intake(sessions, relay, tagger, writes)
        self.on_batch = on_batch
        self.tagging = tagging if tagger is not None else None
        if self.tagging is not None:  # a batch that large is worth tagging ahead
            self.ahead_from = self.tagging.min_batch
        # Tags made in the tagging process, by text, until the batch holding them commits.
        self._tagged: dict[str, Analysis] = {}
        self.before_publish = before_publish
        self._committed: list[OutboxRow] = []  # the last batch's events, queued in `answered`
        self._to_publish: asyncio.Queue[list[OutboxRow]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None

    def start(self) -> None:
        super().start()
        self._publisher = asyncio.create_task(self._publish_loop(), name="ingest-publish")

    async def stop(self, grace_s: float = GRACE_S) -> None:
        """The group commit's stop, then the events of what it committed are published
        (what is still unpublished after `grace_s` is left to the relay's sweeper)."""
        await super().stop(grace_s)
        if self._publisher is None:
            return
        try:
            await asyncio.wait_for(self._to_publish.join(), grace_s)
        except TimeoutError:
            log.warning("ingest_publish_unfinished", extra={"batches": self._to_publish.qsize()})
        self._publisher.cancel()
        await asyncio.gather(self._publisher, return_exceptions=True)

    async def prepare(self, items: list[InboundMessage]) -> None:
        await self._tag(items)

    async def commit(self, items: list[InboundMessage]) -> Sequence[Ingested | BaseException]:
        started = time.perf_counter()
        try:
            tagger = await self._tagger(items)
            results, self._committed = await self.intake.store_unpublished(items, tagger)
        except Exception as exc:  # the database is down: every sender hears it (one
            # refused message fails alone: the intake stores the items one by one then)
            log.warning("ingest_failed", extra={"size": len(items), "error": repr(exc)})
            return [exc] * len(items)
        finally:
            for item in items:
                self._tagged.pop(item.text, None)
        elapsed = time.perf_counter() - started
        log.debug("ingest_committed", extra={"size": len(items), "ms": round(elapsed * 1000, 2)})
        if self.on_batch is not None:
            self.on_batch(len(items), elapsed)
        return results

    async def answered(self) -> None:
        rows, self._committed = self._committed, []
        if rows:
            self._to_publish.put_nowait(rows)  # wakes the publisher after the callers

    async def _publish_loop(self) -> None:
        while True:
            rows = await self._to_publish.get()
            try:
                if self.before_publish is not None:
                    await asyncio.sleep(0)  # the answered callers run first (queued before)
                    await self.before_publish()
                await self.intake.publish(rows)  # a failure is left to the sweeper
            except Exception:  # the loop goes on for the next batch; the sweeper has these
                log.exception("ingest_publish_crashed", extra={"rows": len(rows)})
            finally:
                self._to_publish.task_done()

    async def _tag(self, items: list[InboundMessage]) -> None:
        """Tag in the tagging process the items' texts not tagged yet, if they are enough
        to be worth the trip (and the process is there)."""
        if self.tagging is None:
            return
        found = await self.tagging.tags([i.text for i in items if i.text not in self._tagged])
        if found:
            self._tagged.update(found)

    async def _tagger(self, items: list[InboundMessage]) -> Tagger | None:
        """The batch's tags made in the tagging process (ahead, or now); the intake's own
        tagger, in the transaction, for the rest (or for all, if that process failed)."""
        fallback = self.intake.tagger
        if fallback is None:
            return None
        await self._tag(items)
        tagged = self._tagged
        if not tagged:
            return fallback
        return lambda text: tagged.get(text) or fallback(text)
