"""Group commit: what is queued while a transaction runs goes together in the next one.

One item alone under light load (no added delay), batches of dozens at saturation, in
the order queued. Each caller's future is answered once its batch's `commit` is done;
`commit` gives one result or exception per item, in order; `answered` runs right after
the callers' futures are set. The ingest batcher (gateway/batcher.py) is one of these.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger("crocevia.group_commit")

MAX_BATCH = 200
GRACE_S = 10.0  # for the batch being committed when the process stops
T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]


class GroupCommit(Generic[T, R]):
    """Subclasses name themselves (`name`, for the task and a crash's log event) and
    implement `commit`."""

    name = "group-commit"

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending[T, R]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = True  # waiting for an item, not inside `commit`
        self._batch: list[_Pending[T, R]] = []  # the one being committed

    async def commit(self, items: list[T]) -> Sequence[R | BaseException]:
        raise NotImplementedError

    async def answered(self) -> None:
        """After a batch's callers are answered, before the next batch starts. Their
        wake-ups are queued on the event loop before anything started here can come back
        from the network: the ingest hands its events to its publisher here, which
        publishes them after each visitor's socket has joined the contact its first
        message made."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, grace_s: float = GRACE_S) -> None:
        """Take no more; a batch being committed finishes first (cancelled in the middle
        of its transaction, it would leave its senders without an answer and the pool
        resetting a connection under cancellation). What is still queued then fails, as
        does a batch still unanswered after `grace_s`."""
        if self._task is None:
            return
        self._stopping = True
        if self._idle:
            self._task.cancel()
        else:
            done, _ = await asyncio.wait({self._task}, timeout=grace_s)
            if not done:
                self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        left = [*self._batch]
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
        for pending in left:
            if not pending.future.done():
                pending.future.set_exception(RuntimeError(f"{self.name}: stopping"))

    def enqueue(self, item: T) -> asyncio.Future[R]:
        """Queue `item` for the next transaction; the future is its result once that has
        committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        return future

    async def submit(self, item: T) -> R:
        """`enqueue` and wait: returns once committed (raises if it could not be)."""
        return await self.enqueue(item)

    async def _run(self) -> None:
        while not self._stopping:
            self._idle = True
            batch = self._batch = [await self._queue.get()]
            self._idle = False
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results: Sequence[R | BaseException] = await self.commit([p.item for p in batch])
            except Exception as exc:  # a bug must not stop the loop for everyone after
                log.exception(f"{self.name}_crashed", extra={"size": len(batch)})
                results = [exc] * len(batch)
            for p, result in zip(batch, results, strict=True):
                if p.future.done():  # the caller gave up (its socket closed)
                    continue
                if isinstance(result, BaseException):
                    p.future.set_exception(result)
                else:
                    p.future.set_result(result)
            try:
                await self.answered()
            except Exception:  # the same: the loop goes on for the next batch
                log.exception(f"{self.name}_answered_crashed", extra={"size": len(batch)})
