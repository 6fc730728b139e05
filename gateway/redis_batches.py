"""Redis work of concurrent callers sent together: one round trip, few commands.

Every widget message checks two rate-limit windows in Redis. One pipeline per message
costs more in redis-py (a pipeline object, a connection taken from the pool and given
back, each command packed and its reply parsed in Python) than Redis spends on the
commands: at saturation a profile of the gateway put a quarter of the event loop's time
there. Here the first caller of a loop turn starts a flush; callers that come while it
runs wait for the next one, which carries all of them. Under light load a call still
goes at once, alone.

Two kinds:
- `CommandBatches`: any commands, in one pipeline.
- `ScriptBatches`: calls of one script that treats each of its keys alone (ARGV[i]
  goes with KEYS[i]), merged into one EVALSHA over every caller's keys. On a Redis
  Cluster, whose keys may live on different nodes, each call stays its own EVALSHA, in
  one pipeline.

Each caller gets its own replies, in order; an error reply is returned in its place,
for the caller to handle. When the round trip itself fails (Redis unreachable) every
caller of that flush gets the exception.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from inbox.redis_scripts import Script

Command = tuple[Any, ...]
Request = TypeVar("Request")


class _Batches(Generic[Request]):
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._waiting: list[tuple[Request, int, asyncio.Future[list[Any]]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def _submit(self, request: Request, replies: int) -> list[Any]:
        """The `replies` replies to `request`, sent in the next flush."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, replies, future))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        return await future

    async def _send(self, requests: list[Request]) -> Sequence[Any]:
        """Every request's replies, one after the other."""
        raise NotImplementedError

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the callers of this loop turn join
            while self._waiting:
                batch, self._waiting = self._waiting, []
                await self._answer(batch)
        finally:
            self._flushing = None

    async def _answer(self, batch: list[tuple[Request, int, asyncio.Future[list[Any]]]]) -> None:
        try:
            replies = await self._send([request for request, _n, _future in batch])
        except BaseException as exc:
            for _request, _n, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise  # cancelled: the callers heard it; the task stops
            return
        at = 0
        for _request, n, future in batch:
            if not future.done():  # a caller gone meanwhile (its socket closed)
                future.set_result(list(replies[at : at + n]))
            at += n


class CommandBatches(_Batches[Sequence[Command]]):
    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """The replies to `commands`, sent in the next pipeline."""
        return await self._submit(commands, len(commands))

    async def _send(self, requests: list[Sequence[Command]]) -> Sequence[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for commands in requests:
            for command in commands:
                pipe.execute_command(*command)
        return list(await pipe.execute(raise_on_error=False))


class ScriptBatches(_Batches[tuple[Sequence[str], Sequence[Any]]]):
    def __init__(self, redis: Redis, script: str) -> None:
        super().__init__(redis)
        self.script = Script(script)
        self.commands = CommandBatches(redis) if isinstance(redis, RedisCluster) else None

    async def call(self, keys: Sequence[str], args: Sequence[Any]) -> list[Any]:
        """The script's reply for each key (`args[i]` goes with `keys[i]`)."""
        if self.commands is not None:  # a cluster: one EVALSHA a key, in one pipeline
            calls = [("EVALSHA", self.script.sha, 1, k, a) for k, a in zip(keys, args, strict=True)]
            replies = await self.commands.execute(calls)
            if any(isinstance(r, NoScriptError) for r in replies):
                await self.redis.script_load(self.script.source)  # every primary
                replies = await self.commands.execute(calls)
            return [_unpacked(r) for r in replies]
        return await self._submit((keys, args), len(keys))

    async def _send(self, requests: list[tuple[Sequence[str], Sequence[Any]]]) -> Sequence[Any]:
        keys = [key for request_keys, _args in requests for key in request_keys]
        args = [arg for _keys, request_args in requests for arg in request_args]
        return list(await self.script.run(self.redis, keys, args))


def _unpacked(reply: Any) -> Any:
    """A one-key call's reply is a list of one (or the error in its place)."""
    return reply[0] if isinstance(reply, list) and len(reply) == 1 else reply


_scripts: weakref.WeakKeyDictionary[Redis, dict[str, ScriptBatches]] = weakref.WeakKeyDictionary()


def script_batches_of(redis: Redis, script: str) -> ScriptBatches:
    """The one batcher of `script` calls on this Redis client (kept as long as it is)."""
    by_script = _scripts.setdefault(redis, {})
    found = by_script.get(script)
    if found is None:
        found = by_script[script] = ScriptBatches(redis, script)
    return found
