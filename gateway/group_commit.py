"""Group commit: what is queued while a transaction runs goes together in the next one.

One item alone under light load (no added delay), batches of dozens at saturation, in
the order queued. Each caller's future is answered once its batch's `commit` is done;
`commit` gives one result or exception per item, in order. The ingest batcher
(gateway/batcher.py) and the first contacts (gateway/first_contacts.py) are two of these.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger("crocevia.group_commit")

MAX_BATCH = 200
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

    async def commit(self, items: list[T]) -> Sequence[R | BaseException]:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

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
        while True:
            batch = [await self._queue.get()]
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
