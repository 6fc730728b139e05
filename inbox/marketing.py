"""The marketing overview: sentiment and volume by channel week by week, segment sizes and
the lifecycle funnel, over a period [start, end).

Weeks start on Monday 00:00 UTC; the first is the week holding `start`. Messages are
bucketed in SQL with a CASE over the week boundaries, so the same query runs on SQLite
and PostgreSQL and no message is read into memory. Sentiment is the mean score of
inbound messages; volume counts inbound and outbound messages (notes never).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer, case, cast, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import lifecycle, segments
from inbox import signals as sig
from inbox.model import Conversation, Direction, Message

MAX_WEEKS = 60


class InvalidPeriod(ValueError):
    pass


def weeks(start: datetime, end: datetime) -> list[datetime]:
    """The Mondays (00:00 UTC) starting each week that overlaps [start, end)."""
    if end <= start:
        raise InvalidPeriod("the period ends before it starts")
    monday = (start - timedelta(days=start.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    out = []
    while monday < end:
        out.append(monday)
        monday += timedelta(days=7)
    if len(out) > MAX_WEEKS:
        raise InvalidPeriod(f"the overview covers at most {MAX_WEEKS} weeks")
    return out


async def by_channel_and_week(
    session: AsyncSession, start: datetime, end: datetime, *, teams: frozenset[int] | None = None
) -> dict[str, Any]:
    mondays = weeks(start, end)
    week = case(
        *[(Message.created_at < m + timedelta(days=7), i) for i, m in enumerate(mondays)],
        else_=len(mondays) - 1,
    ).label("week")
    scored_in = (Message.direction == Direction.IN.value) & Message.sentiment_score.is_not(None)
    q = (
        select(
            Conversation.channel,
            week,
            cast(func.sum(case((Message.direction == Direction.IN.value, 1), else_=0)), Integer),
            cast(func.sum(case((Message.direction == Direction.OUT.value, 1), else_=0)), Integer),
            func.avg(case((scored_in, cast(Message.sentiment_score, Float)), else_=None)),
            cast(func.sum(case((scored_in, 1), else_=0)), Integer),
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.created_at >= start,
            Message.created_at < end,
            Message.direction != Direction.NOTE.value,
        )
        .where(true() if teams is None else Conversation.team_id.in_(sorted(teams)))
        .group_by(Conversation.channel, week)
    )
    channels: dict[str, dict[str, list[Any]]] = {}
    empty = len(mondays)
    for channel, i, n_in, n_out, avg, n_scored in await session.execute(q):
        c = channels.setdefault(
            channel,
            {"messages_in": [0] * empty, "messages_out": [0] * empty,
             "sentiment": [None] * empty, "scored": [0] * empty},
        )  # fmt: skip
        c["messages_in"][i] = int(n_in or 0)
        c["messages_out"][i] = int(n_out or 0)
        c["sentiment"][i] = None if avg is None else round(float(avg), 3)
        c["scored"][i] = int(n_scored or 0)
    return {
        "weeks": [m.date().isoformat() for m in mondays],
        "channels": [{"channel": name, **data} for name, data in sorted(channels.items())],
    }


async def overview(
    session: AsyncSession, start: datetime, end: datetime, now: datetime,
    *, teams: frozenset[int] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Everything the marketing page draws (of `teams`' customers, when given)."""
    series = await by_channel_and_week(session, start, end, teams=teams)
    saved = await segments.all_segments(session)
    sizes = await segments.sizes(session, [s.rules for s in saved], now, teams=teams)
    funnel = await lifecycle.funnel(session, start, end, contacts=sig.of_teams(teams))
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        **series,
        "segments": [
            {"id": s.id, "name": s.name, "count": n} for s, n in zip(saved, sizes, strict=True)
        ],
        "funnel": [{"stage": stage, "count": n} for stage, n in funnel.items()],
    }
