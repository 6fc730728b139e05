"""A Lua script run by its SHA1, loaded again when the server has forgotten it (a restart,
or another server behind the same URL)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError


class Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run(self, redis: Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # load it, once
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
