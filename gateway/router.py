"""The router: everything that happens because time passed or an event came, beside the
outbound worker. Each pass:

1. wakes snoozed conversations whose time has come;
2. takes offline the agents whose console stopped beating (gateway/presence.py), puts
   their unanswered conversations back in the queue and forgets those old beats (a
   newer login's presence then wins);
3. assigns waiting conversations team by team (inbox/routing.py);
4. sends the out-of-hours auto-reply once to conversations that started waiting;
5. records SLA breaches (inbox/sla.py);
6. resolves pending conversations idle past their inbox's timeout;
7. every minute, moves contacts along their lifecycle by rule (inbox/lifecycle.py), and
   every ten minutes applies the message retention settings (inbox/privacy.py);
8. pushes changed contact signals to the CRM webhook, when one is configured.

A pass runs as soon as an event arrives on `crocevia:events` (so a new conversation
reaches an agent in milliseconds) and at least every `interval` seconds. Several
routers may run: every step is safe to race (row locks, unique keys).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import presence
from gateway.crm_webhook import CrmPusher
from gateway.hub import RESUME_WINDOW_S
from inbox import auto_messages, lifecycle, privacy, routing, sla, stream_purge
from inbox.conversations import update, wake_snoozed
from inbox.event_passes import pass_on_events
from inbox.events import EVENTS_STREAM
from inbox.files import FileStore
from inbox.hours import schedule_of
from inbox.model import Agent, Conversation, Inbox, Outbox, Presence, agent_teams, utcnow
from inbox.relay import Relay

log = logging.getLogger("crocevia.router")

AWAY_WINDOW = timedelta(minutes=10)  # a wait this recent may still need its auto-reply


def _route(
    team_id: int, now: datetime, connected: set[int]
) -> Callable[[AsyncSession, list[Outbox]], Awaitable[Any]]:
    """One team's routing pass, as a unit of work for Router._commit."""
    return lambda s, o: routing.route_team(s, team_id, now, connected, o)


class Router:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        relay: Relay,
        redis: Redis,
        *,
        grace_s: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        files: FileStore | None = None,
        crm: CrmPusher | None = None,
    ) -> None:
        self.sessions = sessions
        self.relay = relay
        self.redis = redis
        self.grace_s = grace_s
        self.clock = clock
        self.files = files
        self.crm = crm
        self._next_rules: datetime | None = None
        self._next_retention: datetime | None = None

    async def _commit(self, step: Callable[[AsyncSession, list[Outbox]], object]) -> None:
        outbox: list[Outbox] = []
        async with self.sessions() as session, session.begin():
            await step(session, outbox)  # type: ignore[misc]
        await self.relay.publish_quietly(outbox)

    async def connected(self) -> set[int]:
        return await presence.connected(self.redis, self.clock().timestamp(), self.grace_s)

    async def tick(self) -> None:
        now = self.clock()
        connected = await self.connected()
        await self._commit(lambda s, o: wake_snoozed(s, now, o))
        # Read as late as possible: a console that beat meanwhile is not stale.
        stale = await presence.stale(self.redis, now.timestamp(), self.grace_s)
        await self._commit(lambda s, o: self._absent(s, stale, o))
        if stale:  # they are offline now: their old beats must not outlive this
            await presence.forget_stale(self.redis, now.timestamp(), self.grace_s)
        async with self.sessions() as session:
            teams = await routing.routed_teams(session)
        for team_id in teams:
            await self._commit(_route(team_id, now, connected))
        await self._commit(lambda s, o: self._away(s, now, connected, o))
        await self._commit(lambda s, o: sla.check_breaches(s, now, o))
        await self._commit(lambda s, o: self._idle_pending(s, now, o))
        if self._next_rules is None or now >= self._next_rules:
            self._next_rules = now + lifecycle.RULES_EVERY
            await self._commit(lambda s, o: lifecycle.apply_rules(s, now, o))
        if self._next_retention is None or now >= self._next_retention:
            self._next_retention = now + privacy.RETENTION_EVERY
            await self._commit(lambda s, o: privacy.apply_retention(s, now, o, store=self.files))
            # The stream keeps no more than the resume window of anyone's history.
            try:
                await stream_purge.trim_to_window(self.redis, RESUME_WINDOW_S)
            except RedisError as exc:
                log.warning("stream_trim_failed", extra={"error": repr(exc)})
        if self.crm is not None:
            await self.crm.tick(now)  # signal changes to the CRM webhook, with retries

    async def _absent(
        self, session: AsyncSession, connected: set[int], outbox: list[Outbox]
    ) -> None:
        for agent in await routing.absent_agents(session, connected):
            requeued = await routing.go_offline(session, agent, outbox)
            log.info("agent_offline", extra={"agent": agent.id, "requeued": len(requeued)})

    async def _away(
        self, session: AsyncSession, now: datetime, connected: set[int], outbox: list[Outbox]
    ) -> None:
        waiting = (
            await session.execute(
                select(Conversation, Inbox)
                .join(Inbox, Inbox.id == Conversation.inbox_id)
                .where(Conversation.status == "open", Conversation.assignee_id.is_(None))
                .where(Conversation.waiting_since.between(now - AWAY_WINDOW, now))
                .where(Conversation.first_response_at.is_(None))
            )
        ).all()
        available: dict[int | None, bool] = {}
        for conv, inbox in waiting:
            if inbox.team_id not in available:
                available[inbox.team_id] = await _anyone_available(session, inbox, connected)
            schedule = schedule_of(inbox.timezone, inbox.settings)
            await auto_messages.away_reply(
                session, conv, inbox, schedule, now, available[inbox.team_id], outbox
            )

    async def _idle_pending(
        self, session: AsyncSession, now: datetime, outbox: list[Outbox]
    ) -> None:
        for inbox in (await session.execute(select(Inbox))).scalars():
            hours = (inbox.settings or {}).get("pending_resolve_after_hours")
            if not isinstance(hours, int | float) or hours <= 0:
                continue
            idle = (
                await session.execute(
                    select(Conversation)
                    .where(Conversation.inbox_id == inbox.id, Conversation.status == "pending")
                    .where(Conversation.updated_at <= now - timedelta(hours=hours))
                    .limit(200)
                )
            ).scalars()
            for conv in idle:
                await update(session, conv, status="resolved", outbox=outbox)

    async def run(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """Pass after every burst of events (at most one pass per `background.PASS_GAP_S`),
        and at least every `interval` seconds, until `stop` (inbox/event_passes.py)."""
        await pass_on_events(stop, self.redis, EVENTS_STREAM, self.tick, interval, "router")


async def _anyone_available(session: AsyncSession, inbox: Inbox, connected: set[int]) -> bool:
    """Someone online, with a console connected, in the inbox's team (any team if none)."""
    q = select(Agent.id).where(
        Agent.active.is_(True),
        Agent.presence == Presence.ONLINE.value,
        Agent.id.in_(list(connected)),
    )
    if inbox.team_id is not None:
        q = q.join(agent_teams, agent_teams.c.agent_id == Agent.id).where(
            agent_teams.c.team_id == inbox.team_id
        )
    return (await session.execute(q.limit(1))).first() is not None
