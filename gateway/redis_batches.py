"""Redis commands of concurrent callers sent together: one pipeline per round trip.

Every widget message checks two rate-limit windows in Redis. One pipeline per message
costs more in redis-py (a pipeline object, a connection taken from the pool and given
back, a write and a read) than the commands themselves: at saturation a profile of the
gateway put a quarter of the event loop's time there. Here the first caller of a loop
turn starts a flush; callers that come while it runs wait for the next one, which
carries all of them. Under light load a command still goes at once, alone.

Each caller gets its own commands' replies, in order; an error reply (a script the
server forgot) is returned in its place, for the caller to handle. When the round trip
itself fails (Redis unreachable) every caller of that flush gets the exception.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

Command = tuple[Any, ...]


class CommandBatches:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._waiting: list[tuple[Sequence[Command], asyncio.Future[list[Any]]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """The replies to `commands`, sent in the next pipeline."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((commands, future))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the callers of this loop turn join
            while self._waiting:
                batch, self._waiting = self._waiting, []
                await self._send(batch)
        finally:
            self._flushing = None

    async def _send(self, batch: list[tuple[Sequence[Command], asyncio.Future[list[Any]]]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for commands, _future in batch:
            for command in commands:
                pipe.execute_command(*command)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for _commands, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise  # cancelled: the callers heard it; the task stops
            return
        at = 0
        for commands, future in batch:
            if not future.done():  # a caller gone meanwhile (its socket closed)
                future.set_result(list(replies[at : at + len(commands)]))
            at += len(commands)


_batches: weakref.WeakKeyDictionary[Redis, CommandBatches] = weakref.WeakKeyDictionary()


def batches_of(redis: Redis) -> CommandBatches:
    """The one batcher of this Redis client (kept as long as the client is)."""
    found = _batches.get(redis)
    if found is None:
        found = _batches[redis] = CommandBatches(redis)
    return found
