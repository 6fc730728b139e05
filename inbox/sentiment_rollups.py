"""Sentiment over time: a conversation's current mood and its direction, a contact's averages.

Definitions (inbound messages with a score only; agents' replies and notes never count):
- current: the exponentially weighted mean of the last `WINDOW` scores, the newest weighing
  most (each older one weighs `DECAY` times the next);
- trend: the least-squares slope of the last `WINDOW` scores against their position;
  above `+SLOPE` per message it is "improving", below `-SLOPE` "worsening", else "stable";
  with fewer than `MIN_TREND` scores there is no trend (None);
- a contact's 30- and 90-day averages: the plain mean of the scores in the window;
- negative streak: how many of a contact's latest scored inbound messages are negative in a
  row, ending at the latest one (0 when the latest is not negative).

The pure functions here are shared by the per-contact view (the console) and by
inbox/signals.py, which computes the same figures for contacts in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.model import Conversation, Direction, Message

WINDOW = 10
DECAY = 0.6
SLOPE = 0.03
MIN_TREND = 3
NEGATIVE = "negative"


def current(scores_oldest_first: Sequence[float]) -> float | None:
    """Exponentially weighted mean of the last `WINDOW` scores (None without any)."""
    scores = list(scores_oldest_first)[-WINDOW:]
    if not scores:
        return None
    weights = [DECAY ** (len(scores) - 1 - i) for i in range(len(scores))]
    return round(sum(w * s for w, s in zip(weights, scores, strict=True)) / sum(weights), 4)


def slope(scores_oldest_first: Sequence[float]) -> float | None:
    """Least-squares slope of the last `WINDOW` scores per message (None under `MIN_TREND`)."""
    ys = list(scores_oldest_first)[-WINDOW:]
    n = len(ys)
    if n < MIN_TREND:
        return None
    mean_x = (n - 1) / 2
    mean_y = sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in range(n))
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(ys))
    return sxy / sxx


def trend(scores_oldest_first: Sequence[float]) -> str | None:
    """ "improving", "worsening" or "stable" (None with too few scores)."""
    s = slope(scores_oldest_first)
    if s is None:
        return None
    if s > SLOPE:
        return "improving"
    if s < -SLOPE:
        return "worsening"
    return "stable"


def negative_streak(labels_newest_first: Iterable[str | None]) -> int:
    """Consecutive negative labels from the newest backwards."""
    n = 0
    for label in labels_newest_first:
        if label != NEGATIVE:
            break
        n += 1
    return n


def _scored_inbound() -> Any:
    return (Message.direction == Direction.IN.value) & Message.sentiment_score.is_not(None)


async def conversations(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """Current sentiment and trend of each conversation, from its last inbound scores."""
    if not conversation_ids:
        return {}
    ranked = (
        select(
            Message.conversation_id.label("cid"),
            Message.sentiment_score.label("score"),
            func.row_number()
            .over(
                partition_by=Message.conversation_id,
                order_by=(Message.created_at.desc(), Message.id.desc()),
            )
            .label("rn"),
        )
        .where(Message.conversation_id.in_(list(conversation_ids)), _scored_inbound())
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.cid, ranked.c.score)
        .where(ranked.c.rn <= WINDOW)
        .order_by(ranked.c.cid, ranked.c.rn.desc())
    )
    scores: dict[int, list[float]] = {cid: [] for cid in conversation_ids}
    for cid, score in rows:
        scores[cid].append(float(score))
    return {cid: {"current": current(s), "trend": trend(s)} for cid, s in scores.items()}


async def contact(session: AsyncSession, contact_id: int, now: datetime) -> dict[str, Any]:
    """A contact's current sentiment, trend, 30/90-day averages and negative streak."""
    base = (
        select(Message.sentiment_score, Message.sentiment_label, Message.created_at)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.contact_id == contact_id, _scored_inbound())
    )
    latest = list(
        await session.execute(
            base.order_by(Message.created_at.desc(), Message.id.desc()).limit(WINDOW)
        )
    )
    scores = [float(r.sentiment_score) for r in reversed(latest)]
    averages = (
        await session.execute(
            select(func.avg(_since(now, 30)), func.avg(_since(now, 90)))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.contact_id == contact_id, _scored_inbound())
        )
    ).one()
    streak = negative_streak(r.sentiment_label for r in latest)
    if streak == len(latest) == WINDOW:  # the streak may run further back
        streak = await _long_streak(session, contact_id)
    return {
        "current": current(scores),
        "trend": trend(scores),
        "avg_30d": _round(averages[0]),
        "avg_90d": _round(averages[1]),
        "negative_streak": streak,
    }


def _since(now: datetime, days: int) -> Any:
    """The score of a message of the last `days` days, else NULL (for AVG over a window)."""
    cutoff = now - timedelta(days=days)
    return case((Message.created_at >= cutoff, cast(Message.sentiment_score, Float)), else_=None)


async def _long_streak(session: AsyncSession, contact_id: int) -> int:
    """The negative streak counted in SQL: negatives after the last non-negative score."""
    scored = (
        select(Message.created_at, Message.sentiment_label)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.contact_id == contact_id, _scored_inbound())
    )
    last_ok = await session.scalar(
        select(func.max(Message.created_at))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.contact_id == contact_id,
            _scored_inbound(),
            Message.sentiment_label != NEGATIVE,
        )
    )
    q = select(func.count()).select_from(scored.subquery())
    if last_ok is not None:
        sub = scored.where(Message.created_at > last_ok).subquery()
        q = select(func.count()).select_from(sub)
    return int(await session.scalar(q) or 0)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
