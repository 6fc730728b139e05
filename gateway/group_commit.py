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

Under load, the next batch is made ready while the current one commits: as soon as at
least `ahead_from` items wait during a commit, they are taken, admitted and given to
`prepare` meanwhile (the ingest tags them in its tagging process, gateway/batcher.py:
a third to a half of a saturated batch's turn before). What arrives during the commit
joins them, up to `max_batch`, so the next batch holds no fewer items than it would
have otherwise; those are left to `commit` to prepare.
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
    ahead_from: int | None = None  # None: no batch is made ready ahead

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending[T, R]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = True  # waiting for an item, not inside `commit`
        self._batch: list[_Pending[T, R]] = []  # the one being committed
        self._ahead: list[_Pending[T, R]] = []  # the next one, being made ready
        self._ahead_task: asyncio.Task[list[_Pending[T, R]]] | None = None
        self._committing = False

    async def prepare(self, items: list[T]) -> None:
        """Work on a batch taken ahead, while the batch before it commits (items already
        admitted). What it makes is for `commit` to find: a failure here is logged, and
        `commit` then does without."""

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
        left = [*self._batch, *self._ahead]
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
        self._maybe_ahead()
        return future

    async def submit(self, item: T) -> R:
        """`enqueue` and wait: returns once committed (raises if it could not be)."""
        return await self.enqueue(item)

    async def _run(self) -> None:
        try:
            while not self._stopping:
                if self._ahead_task is None:
                    self._idle = True
                    self._batch = [await self._queue.get()]
                    self._idle = False
                    self._batch += self._take(self.max_batch - 1)
                    batch = self._batch = await _admitted(self._batch)
                else:
                    ready = await self._ahead_task  # its last chunk, if it is still on one
                    late = self._take(self.max_batch - len(self._ahead))
                    self._batch, self._ahead, self._ahead_task = [*self._ahead, *late], [], None
                    batch = self._batch = [*ready, *await _admitted(late)]
                if not batch:
                    continue
                self._committing = True
                self._maybe_ahead()
                try:
                    await self._commit(batch)
                finally:
                    self._committing = False
        finally:
            if self._ahead_task is not None:
                self._ahead_task.cancel()

    def _maybe_ahead(self) -> None:
        """Take the next batch ahead, or more of it, if a commit runs and enough items
        wait (and the next batch is not full yet)."""
        previous = self._ahead_task
        if (
            self._committing
            and (previous is None or previous.done())
            and self.ahead_from is not None
            and self._queue.qsize() >= self.ahead_from
            and len(self._ahead) < self.max_batch
        ):
            self._ahead_task = asyncio.create_task(self._ready_ahead(previous))

    def _take(self, most: int) -> list[_Pending[T, R]]:
        taken: list[_Pending[T, R]] = []
        while len(taken) < most and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    async def _ready_ahead(
        self, previous: asyncio.Task[list[_Pending[T, R]]] | None
    ) -> list[_Pending[T, R]]:
        """Take, admit and prepare what waits, a chunk at a time while the commit runs and
        enough items wait (up to `max_batch` in all); the admitted items, in order, after
        those of the `previous` run (done) for the same batch."""
        ready = [*(await previous)] if previous is not None else []
        while True:
            chunk = self._take(self.max_batch - len(self._ahead))
            self._ahead += chunk
            admitted = await _admitted(chunk)
            ready += admitted
            if admitted:
                try:
                    await self.prepare([p.item for p in admitted])
                except Exception:  # commit does without
                    log.exception(f"{self.name}_prepare_crashed", extra={"size": len(admitted)})
            if not self._committing or len(self._ahead) >= self.max_batch:
                return ready
            if self._queue.qsize() < (self.ahead_from or 1):
                return ready

    async def _commit(self, batch: list[_Pending[T, R]]) -> None:
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
