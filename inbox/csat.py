"""Customer satisfaction: a 1-5 rating (and a comment) for a resolved conversation.

The question goes out when a conversation is resolved (inbox/auto_messages.py). The widget
answers through its API; on other channels a reply that is just a digit from 1 to 5,
within three days of the question, is taken as the rating (inbox/ingest.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from inbox.model import Conversation, CsatResponse

ANSWER_WINDOW = timedelta(days=3)
_BARE_RATING = re.compile(r"\s*([1-5])\s*(?:/\s*5)?\s*[.!]?\s*")


class CsatRefused(ValueError):
    pass


def rating_in(text: str) -> int | None:
    """The rating a message like "5", " 4/5 " or "3." gives, else None."""
    m = _BARE_RATING.fullmatch(text)
    return int(m.group(1)) if m else None


def awaits_rating(conv: Conversation, now: datetime) -> bool:
    return (
        conv.status == "resolved"
        and conv.csat_requested_at is not None
        and now - conv.csat_requested_at <= ANSWER_WINDOW
    )


async def record(
    session: AsyncSession, conv: Conversation, rating: int, comment: str | None, now: datetime
) -> CsatResponse:
    """Store (or correct) the rating; only for a conversation that asked for one."""
    return await session.run_sync(record_sync, conv, rating, comment, now)


def record_sync(
    session: Session, conv: Conversation, rating: int, comment: str | None, now: datetime
) -> CsatResponse:
    """`record` in a synchronous session (the intake's transaction, inbox/writes.py)."""
    if not 1 <= rating <= 5:
        raise CsatRefused("the rating is a whole number from 1 to 5")
    if conv.csat_requested_at is None or now - conv.csat_requested_at > ANSWER_WINDOW:
        raise CsatRefused("this conversation is not waiting for a rating")
    row = session.get(CsatResponse, conv.id)
    if row is None:
        row = CsatResponse(conversation_id=conv.id, rating=rating, comment=comment, created_at=now)
        session.add(row)
    else:
        row.rating, row.created_at = rating, now
        row.comment = comment if comment is not None else row.comment
    session.flush()
    return row
