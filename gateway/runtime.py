"""What a gateway process holds while it runs: database, Redis, fan-out, relay, batchers,
agents' heartbeats."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from gateway.batcher import IngestBatcher
from gateway.hub import Hub
from gateway.presence import PresenceBeat
from gateway.settings import Settings
from inbox.inbox_cache import InboxCache
from inbox.relay import Relay
from inbox.writes import Writes


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    hub: Hub
    relay: Relay
    batcher: IngestBatcher
    presence: PresenceBeat
    # Inboxes' channel, team, state and widget origins, kept 5 s (an admin's edit: forget).
    inboxes: InboxCache
    # Reads run in one hop (inbox/writes.py): on SQLite a thread and a connection of their
    # own, rather than aiosqlite's hop to its thread and back for every cursor call.
    reads: Writes


def runtime(conn: HTTPConnection) -> Runtime:
    rt: Runtime = conn.app.state.runtime
    return rt
