"""Time-driven work that runs beside the outbound worker: snoozed conversations wake up.

Each tick takes due rows with `FOR UPDATE SKIP LOCKED`, so several workers share
the work without doing it twice; events go out through the relay like any other.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.conversations import wake_snoozed
from inbox.model import Outbox, utcnow
from inbox.relay import Relay

log = logging.getLogger("crocevia.timers")


async def tick(sessions: async_sessionmaker[AsyncSession], relay: Relay) -> int:
    outbox: list[Outbox] = []
    async with sessions() as session, session.begin():
        woke = await wake_snoozed(session, utcnow(), outbox)
    await relay.publish_quietly(outbox)
    if woke:
        log.info("snoozed_woke", extra={"count": woke})
    return woke


async def run(
    sessions: async_sessionmaker[AsyncSession], relay: Relay, interval: float = 5.0
) -> None:
    while True:
        try:
            await tick(sessions, relay)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("timers_tick_failed", extra={"error": str(exc)})
        await asyncio.sleep(interval)
