"""An HTTP client a connector keeps between calls, so that a run of replies to one
platform reuses its connections (no TLS handshake, no new pool per send).

A pool belongs to the event loop that opened it: on another loop (a test's next one, a
CLI command's own) a new client is built and the old one is left to that loop. The
owner of a keeping connector (gateway/channels.py's ConnectorCache, in the worker)
closes it with `aclose` when it evicts the connector or stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Generic, TypeVar

C = TypeVar("C")


class KeptClient(Generic[C]):
    def __init__(self, build: Callable[[], C], close: Callable[[C], Awaitable[None]]) -> None:
        self._build = build
        self._close = close
        self._client: C | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.built = 0  # how many clients were made (one per loop, or after a close)

    @property
    def open(self) -> bool:
        return self._client is not None

    def use(self) -> AbstractAsyncContextManager[C]:
        """The kept client, for an `async with`; it stays open on the way out."""
        return self._using()

    @contextlib.asynccontextmanager
    async def _using(self) -> AsyncIterator[C]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self._build(), loop
            self.built += 1
        yield self._client

    async def aclose(self) -> None:
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is not None and loop is asyncio.get_running_loop():
            await self._close(client)
