"""Figures for team leads: response and resolution times, volumes, CSAT, the weekly heatmap
and the live state of the queues.

Definitions (all over a period [start, end)):
- first response: from a conversation's start to its first public reply, for
  conversations started in the period;
- waiting: for each public reply in the period, how long the customer had waited since
  the oldest message it answers;
- resolution: from start to resolution, for conversations resolved in the period;
- volumes: conversations started, messages received and sent;
- CSAT: ratings given in the period.
Times are in seconds; medians and 90th percentiles use the nearest-rank method.
Grouping by label counts a conversation once under each of its labels.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.model import (
    Agent,
    Conversation,
    CsatResponse,
    Inbox,
    Message,
    SlaBreach,
    Team,
    agent_teams,
)

GROUPS = ("none", "channel", "inbox", "team", "agent", "label")


class InvalidReport(ValueError):
    pass


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _stats(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "median": percentile(values, 50), "p90": percentile(values, 90)}


@dataclass
class _Bucket:
    conversations: int = 0
    messages_in: int = 0
    messages_out: int = 0
    first_response: list[float] = field(default_factory=list)
    waiting: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "first_response": _stats(self.first_response),
            "waiting": _stats(self.waiting),
            "resolution": _stats(self.resolution),
            "csat": {
                "count": len(self.ratings),
                "average": round(sum(self.ratings) / len(self.ratings), 2)
                if self.ratings
                else None,
                "distribution": {str(n): self.ratings.count(n) for n in range(1, 6)},
            },
        }


def _keys(conv: Conversation, group: str) -> Iterable[str]:
    if group == "none":
        return ("all",)
    if group == "label":
        return conv.labels or ("(none)",)
    value = {"channel": conv.channel, "inbox": conv.inbox_id, "team": conv.team_id,
             "agent": conv.assignee_id}[group]  # fmt: skip
    return (str(value) if value is not None else "(none)",)


async def summary(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    group: str = "none",
    *,
    teams: frozenset[int] | None = None,
) -> dict[str, Any]:
    """Figures of the period's conversations (only those of `teams`, when given)."""
    if group not in GROUPS:
        raise InvalidReport(f"group_by must be one of {', '.join(GROUPS)}, got {group!r}")
    if end <= start:
        raise InvalidReport("the period ends before it starts")
    in_period = select(Message.conversation_id).where(
        Message.created_at >= start, Message.created_at < end
    )
    convs = {
        c.id: c
        for c in (
            await session.execute(
                select(Conversation)
                .where(
                    or_(
                        and_(Conversation.created_at >= start, Conversation.created_at < end),
                        and_(Conversation.resolved_at >= start, Conversation.resolved_at < end),
                        Conversation.id.in_(in_period),
                    )
                )
                .where(_of_teams(teams))
            )
        ).scalars()
    }
    buckets: dict[str, _Bucket] = defaultdict(_Bucket)
    for conv in convs.values():
        for key in _keys(conv, group):
            b = buckets[key]
            if start <= conv.created_at < end:
                b.conversations += 1
                if conv.first_response_at is not None:
                    b.first_response.append(
                        (conv.first_response_at - conv.created_at).total_seconds()
                    )
            if conv.resolved_at is not None and start <= conv.resolved_at < end:
                b.resolution.append((conv.resolved_at - conv.created_at).total_seconds())
    await _messages(session, convs, start, end, group, buckets)
    ratings = await session.execute(
        select(CsatResponse).where(CsatResponse.created_at >= start, CsatResponse.created_at < end)
    )
    for r in ratings.scalars():
        rated = convs.get(r.conversation_id) or await session.get(Conversation, r.conversation_id)
        if rated is not None and (teams is None or rated.team_id in teams):
            for key in _keys(rated, group):
                buckets[key].ratings.append(r.rating)
    names = await _names(session, group)
    groups = [
        {"key": key, "name": names.get(key, key), **b.as_dict()}
        for key, b in sorted(buckets.items(), key=lambda kv: -kv[1].conversations)
    ]
    return {"from": start.isoformat(), "to": end.isoformat(), "group_by": group, "groups": groups}


async def _messages(
    session: AsyncSession,
    convs: dict[int, Conversation],
    start: datetime,
    end: datetime,
    group: str,
    buckets: dict[str, _Bucket],
) -> None:
    """Volumes, and the wait each public reply in the period ended."""
    if not convs:
        return
    rows = await session.execute(
        select(Message.conversation_id, Message.direction, Message.created_at)
        .where(Message.conversation_id.in_(list(convs)))
        .where(Message.created_at < end)
        .where(Message.direction.in_(("in", "out")))
        .order_by(Message.conversation_id, Message.created_at, Message.id)
    )
    unanswered_since: dict[int, datetime | None] = {}
    for conv_id, direction, at in rows.all():
        keys = _keys(convs[conv_id], group)
        if direction == "in":
            if unanswered_since.get(conv_id) is None:
                unanswered_since[conv_id] = at
            if at >= start:
                for key in keys:
                    buckets[key].messages_in += 1
            continue
        since = unanswered_since.pop(conv_id, None)
        if at >= start:
            for key in keys:
                buckets[key].messages_out += 1
                if since is not None:
                    buckets[key].waiting.append((at - since).total_seconds())


async def _names(session: AsyncSession, group: str) -> dict[str, str]:
    model = {"inbox": Inbox, "team": Team, "agent": Agent}.get(group)
    if model is None:
        return {}
    rows = await session.execute(select(model.id, model.name))  # type: ignore[attr-defined]
    return {str(i): n for i, n in rows.all()}


async def heatmap(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    inbox_id: int | None = None,
    *,
    teams: frozenset[int] | None = None,
) -> dict[str, Any]:
    """Inbound messages by weekday (Monday first) and hour, in the inbox's time zone."""
    zone = "Europe/Rome"
    q = select(Message.created_at).where(
        Message.direction == "in", Message.created_at >= start, Message.created_at < end
    )
    if teams is not None:
        q = q.where(Message.conversation_id.in_(select(Conversation.id).where(_of_teams(teams))))
    if inbox_id is not None:
        inbox = await session.get(Inbox, inbox_id)
        if inbox is None:
            raise InvalidReport(f"no inbox {inbox_id}")
        zone = inbox.timezone
        q = q.where(Message.inbox_id == inbox_id)
    tz = ZoneInfo(zone)
    cells = [[0] * 24 for _ in range(7)]
    for (at,) in (await session.execute(q)).all():
        local = at.astimezone(tz)
        cells[local.weekday()][local.hour] += 1
    return {"zone": zone, "from": start.isoformat(), "to": end.isoformat(), "cells": cells}


def _of_teams(teams: frozenset[int] | None) -> ColumnElement[bool]:
    return true() if teams is None else Conversation.team_id.in_(sorted(teams))


async def live(
    session: AsyncSession, now: datetime, *, teams: frozenset[int] | None = None
) -> dict[str, Any]:
    """What the lead's live view shows: queues, agents, today's figures, SLA breaches —
    of `teams` only, when given (a team lead's view)."""
    queues = []
    named = {t.id: t for t in (await session.execute(select(Team).order_by(Team.name))).scalars()}
    rows = await session.execute(
        select(Conversation.team_id, func.count(), func.min(Conversation.waiting_since))
        .where(Conversation.status == "open", Conversation.assignee_id.is_(None))
        .where(_of_teams(teams))
        .group_by(Conversation.team_id)
    )
    for team_id, count, oldest in rows.all():
        team = named.get(team_id) if team_id is not None else None
        queues.append({
            "team_id": team_id, "name": team.name if team else None, "waiting": int(count),
            "longest_wait_s": (now - oldest).total_seconds() if oldest else 0,
            "policy": team.routing_policy if team else "manual",
        })  # fmt: skip
    load = dict(
        (
            await session.execute(
                select(Conversation.assignee_id, func.count())
                .where(Conversation.status.in_(("open", "pending")))
                .where(Conversation.assignee_id.is_not(None))
                .group_by(Conversation.assignee_id)
            )
        ).all()
    )
    memberships: dict[int, list[int]] = defaultdict(list)
    for agent_id, team_id in (await session.execute(select(agent_teams))).all():
        memberships[agent_id].append(team_id)
    agents = [
        {"id": a.id, "name": a.name, "presence": a.presence, "load": int(load.get(a.id, 0)),
         "capacity": a.capacity, "team_ids": memberships[a.id]}
        for a in (await session.execute(
            select(Agent).where(Agent.active.is_(True), Agent.role.in_(("agent", "lead", "admin")))
            .order_by(Agent.name))).scalars()
        if teams is None or teams & set(memberships[a.id])
    ]  # fmt: skip
    day_start = now.astimezone(ZoneInfo("Europe/Rome")).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    today = await summary(session, day_start, now + timedelta(seconds=1), teams=teams)
    breaches = await session.execute(
        select(SlaBreach, Conversation)
        .join(Conversation, Conversation.id == SlaBreach.conversation_id)
        .where(Conversation.status != "resolved")
        .where(_of_teams(teams))
        .where(SlaBreach.breached_at >= now - timedelta(days=1))
        .order_by(SlaBreach.breached_at.desc())
        .limit(100)
    )
    return {
        "at": now.isoformat(),
        "queues": queues,
        "agents": agents,
        "today": today["groups"][0] if today["groups"] else None,
        "breaches": [
            {"conversation_id": c.id, "kind": b.kind, "due_at": b.due_at.isoformat(),
             "breached_at": b.breached_at.isoformat(), "team_id": c.team_id,
             "assignee_id": c.assignee_id, "priority": c.priority}
            for b, c in breaches.all()
        ],
    }  # fmt: skip
