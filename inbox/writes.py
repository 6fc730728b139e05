"""How the intake runs a write transaction: `Writes.run(work)` calls `work(session)` with
a synchronous `Session` inside a transaction, commits, and returns what `work` returned.

The intake's transaction (inbox/ingest.py) is written once, synchronously, and run two
ways. `InGreenlet` runs it on an async engine (`AsyncSession.run_sync`: PostgreSQL's
asyncpg, each statement awaited on the event loop). `InThread` runs it on SQLite in one
writer thread: the driver is synchronous anyway, and aiosqlite hands every cursor call
to its own thread and back (about four hops per statement, a dozen statements per
transaction); here a transaction is one hop, and the event loop stays free meanwhile.

The gateway also runs its widget sockets' authentication reads on one of these, of
their own (`Runtime.reads`, gateway/ws_widget.py): on SQLite, one hop instead of
aiosqlite's hop per cursor call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as sync_sessionmaker

from inbox.db import create_sqlite_engine

T = TypeVar("T")


class Writes(Protocol):
    async def run(self, work: Callable[[Session], T]) -> T: ...

    async def close(self) -> None: ...


class InGreenlet:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def run(self, work: Callable[[Session], T]) -> T:
        async with self.sessions() as session, session.begin():
            return await session.run_sync(work)

    async def close(self) -> None:
        pass  # the engine is its owner's


class InThread:
    """One thread, one SQLite connection at a time: SQLite has one writer anyway. A
    transaction whose caller is cancelled still finishes (committed or rolled back) in
    the thread; it is never cut in the middle."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_sqlite_engine(database_url)
        self.sessions = sync_sessionmaker(self.engine, expire_on_commit=False)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writes")

    async def run(self, work: Callable[[Session], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)

    def _run(self, work: Callable[[Session], T]) -> T:
        with self.sessions() as session, session.begin():
            return work(session)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self.engine.dispose)
        self._thread.shutdown(wait=False)


def writes_for(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> Writes:
    """A writer thread for SQLite, the async engine of `sessions` otherwise."""
    if database_url.startswith("sqlite"):
        return InThread(database_url)
    return InGreenlet(sessions)
