"""Who gets a waiting conversation: the team's policy, the agents' capacity and languages.

Policies per team: `manual` (nobody is assigned automatically), `round_robin` (the
available agent given a conversation longest ago) and `least_busy` (the fewest open
conversations, then round-robin). An agent is available when their presence is online,
their console is connected (see gateway/presence.py) and their load is under capacity.
A conversation in Italian goes first to agents who speak Italian.

Assignment is atomic across processes: each team's pass starts with an UPDATE of the
team's row, which PostgreSQL locks and SQLite serialises with its write lock, so two
routers never hand one conversation to two agents nor push an agent over capacity.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import events
from inbox.model import (
    Agent,
    Contact,
    Conversation,
    Outbox,
    Presence,
    RoutingPolicy,
    Team,
    agent_teams,
)
from inbox.serialize import agent_public_dict, conversation_dict

OPEN_STATUSES = ("open", "pending")
PRIORITY_RANK = case(
    {"urgent": 0, "high": 1, "normal": 2, "low": 3}, value=Conversation.priority, else_=2
)
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


async def loads(session: AsyncSession, agent_ids: Collection[int]) -> dict[int, int]:
    """Open and pending conversations assigned to each agent."""
    if not agent_ids:
        return {}
    rows = await session.execute(
        select(Conversation.assignee_id, func.count())
        .where(Conversation.assignee_id.in_(list(agent_ids)))
        .where(Conversation.status.in_(OPEN_STATUSES))
        .group_by(Conversation.assignee_id)
    )
    found = {int(a): int(n) for a, n in rows.all() if a is not None}
    return {a: found.get(a, 0) for a in agent_ids}


async def _emit_updated(session: AsyncSession, conv: Conversation, outbox: list[Outbox]) -> None:
    contact = await session.get_one(Contact, conv.contact_id)
    outbox.append(
        events.emit(
            session, "conversation.updated", {"conversation": conversation_dict(conv, contact)}
        )
    )


def _speaks(agent: Agent, language: str | None) -> bool:
    return language is not None and language in {x.strip() for x in agent.languages.split(",")}


async def route_team(
    session: AsyncSession,
    team_id: int,
    now: datetime,
    connected: Collection[int],
    outbox: list[Outbox],
    limit: int = 200,
) -> list[tuple[int, int]]:
    """Assign the team's waiting conversations; returns (conversation id, agent id) pairs.
    Call inside a transaction: the team's row stays locked until it commits."""
    await session.execute(
        update(Team).where(Team.id == team_id).values(routing_policy=Team.routing_policy)
    )
    team = await session.get(Team, team_id, populate_existing=True)
    if team is None or team.routing_policy == RoutingPolicy.MANUAL:
        return []
    agents = list(
        (
            await session.execute(
                select(Agent)
                .join(agent_teams, agent_teams.c.agent_id == Agent.id)
                .where(agent_teams.c.team_id == team_id)
                .where(Agent.active.is_(True), Agent.presence == Presence.ONLINE.value)
                .where(Agent.id.in_(list(connected)))
                .execution_options(populate_existing=True)
            )
        ).scalars()
    )
    if not agents:
        return []
    load = await loads(session, [a.id for a in agents])
    queue = (
        await session.execute(
            select(Conversation)
            .where(Conversation.team_id == team_id, Conversation.assignee_id.is_(None))
            .where(Conversation.status == "open")
            .order_by(PRIORITY_RANK, Conversation.waiting_since.asc().nulls_last(), Conversation.id)
            .limit(limit)
        )
    ).scalars()
    made: list[tuple[int, int]] = []
    for conv in queue:
        free = [a for a in agents if load[a.id] < a.capacity]
        if not free:
            break
        pool = [a for a in free if _speaks(a, conv.language)] or free
        if team.routing_policy == RoutingPolicy.LEAST_BUSY:
            agent = min(pool, key=lambda a: (load[a.id], a.last_assigned_at or _LONG_AGO, a.id))
        else:
            agent = min(pool, key=lambda a: (a.last_assigned_at or _LONG_AGO, a.id))
        conv.assignee_id = agent.id
        conv.updated_at = now
        agent.last_assigned_at = now
        load[agent.id] += 1
        await session.flush()
        await _emit_updated(session, conv, outbox)
        made.append((conv.id, agent.id))
    return made


async def routed_teams(session: AsyncSession) -> list[int]:
    """Teams whose policy assigns automatically and which have someone waiting."""
    rows = await session.execute(
        select(Team.id)
        .where(Team.routing_policy != RoutingPolicy.MANUAL.value)
        .where(
            select(Conversation.id)
            .where(Conversation.team_id == Team.id, Conversation.assignee_id.is_(None))
            .where(Conversation.status == "open")
            .exists()
        )
    )
    return [int(t) for t in rows.scalars()]


async def go_offline(session: AsyncSession, agent: Agent, outbox: list[Outbox]) -> list[int]:
    """The agent is offline: their open conversations still waiting for an answer go back
    to their team's queue. Returns the ids requeued."""
    if agent.presence != Presence.OFFLINE.value:
        agent.presence = Presence.OFFLINE.value
        outbox.append(events.emit(session, "agent.updated", {"agent": agent_public_dict(agent)}))
    waiting = (
        await session.execute(
            select(Conversation)
            .where(Conversation.assignee_id == agent.id, Conversation.status == "open")
            .where(Conversation.waiting_since.is_not(None))
        )
    ).scalars()
    requeued = []
    for conv in waiting:
        conv.assignee_id = None
        await session.flush()
        await _emit_updated(session, conv, outbox)
        requeued.append(conv.id)
    return requeued


async def absent_agents(session: AsyncSession, stale: Collection[int]) -> list[Agent]:
    """Agents who say they are online or busy but whose console stopped beating."""
    if not stale:
        return []
    return list(
        (
            await session.execute(
                select(Agent)
                .where(Agent.presence != Presence.OFFLINE.value)
                .where(Agent.id.in_(list(stale)))
            )
        ).scalars()
    )
