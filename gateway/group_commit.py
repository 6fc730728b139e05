"""Group commit: what is queued while a transaction runs goes together in the next one.

One item alone under light load (no added delay), batches of dozens at saturation, in
the order queued. Each caller's future is answered once its batch's `commit` is done;
`commit` gives one result or exception per item, in order; `answered` runs right after
the callers' futures are set. The ingest batcher (gateway/batcher.py) is one of these.

An item may come with its admission (`enqueue(item, admit)`): a check the batch runs
for all of its items at once, in one loop turn, right before its `commit`; an item
whose check raises is answered with that exception and left out. The widget's rate
limits are checked so (gateway/ws_widget.py): the checks of concurrent calls share one
Redis script call (gateway/redis_batches.py), so a batch's messages cost one round
trip instead of one each, and a socket reads its next frame without waiting for one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger("crocevia.group_commit")

MAX_BATCH = 200
GRACE_S = 10.0  # for the batch being committed when the process stops
T = TypeVar("T")
R = TypeVar("R")


Admit = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    admit: Admit | None = None


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

    def enqueue(self, item: T, admit: Admit | None = None) -> asyncio.Future[R]:
        """Queue `item` for the next transaction; the future is its result once that has
        committed. `admit`, if given, is awaited right before: if it raises, the item is
        left out and the future gets its exception."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future, admit))
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
            batch = self._batch = await _admitted(batch)
            if not batch:
                continue
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


async def _admitted(batch: list[_Pending[T, R]]) -> list[_Pending[T, R]]:
    """The batch's items whose admission passed (or that had none), in order. The checks
    start in one loop turn, so that those that share a round trip do."""
    checked = [p for p in batch if p.admit is not None]
    if not checked:
        return batch
    outcomes = await asyncio.gather(
        *(p.admit() for p in checked if p.admit is not None), return_exceptions=True
    )
    refused: set[int] = set()
    for p, outcome in zip(checked, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            refused.add(id(p))
            if not p.future.done():
                p.future.set_exception(outcome)
    return [p for p in batch if id(p) not in refused]
