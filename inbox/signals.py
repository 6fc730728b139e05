"""Social CRM signals per contact, computed in bulk and streamed.

For each contact (merged-away contacts are skipped: their history lives on in the kept one):
channels used, first and last interaction (any inbound or outbound message), inbound and
outbound message counts, sentiment (current, trend, 30/90-day averages, negative streak;
see inbox/sentiment_rollups.py), the median first response time of their conversations,
CSAT (average and count), labels (union over their conversations), lifecycle stage and
custom attributes. Never a message's text: marketing reads these.

Contacts are read in chunks by keyset pagination on their id; each chunk's figures come
from a handful of grouped queries over that id range, so memory stays bounded by the chunk
whatever the number of contacts.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    and_,
    case,
    cast,
    exists,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import sentiment_rollups as rollups
from inbox.model import Contact, Conversation, CsatResponse, Direction, Message
from inbox.reports import percentile
from inbox.serialize import iso
from inbox.spreadsheet_csv import BOM, SheetStyle, safe_text

CHUNK = 2000
FORMATS = ("csv", "ndjson")
CSV_COLUMNS = (
    "contact_id", "name", "email", "lifecycle_stage", "channels", "first_interaction",
    "last_interaction", "messages_in", "messages_out", "sentiment_current", "sentiment_trend",
    "sentiment_avg_30d", "sentiment_avg_90d", "negative_streak", "first_response_median_s",
    "csat_avg", "csat_count", "labels", "attributes",
)  # fmt: skip
COLUMN_NAMES: dict[str, dict[str, str]] = {
    "contact_id": {"it": "ID contatto"}, "name": {"it": "Nome"}, "email": {"it": "Email"},
    "lifecycle_stage": {"it": "Fase"}, "channels": {"it": "Canali"},
    "first_interaction": {"it": "Primo contatto"}, "last_interaction": {"it": "Ultimo contatto"},
    "messages_in": {"it": "Messaggi ricevuti"}, "messages_out": {"it": "Messaggi inviati"},
    "sentiment_current": {"it": "Sentiment attuale"}, "sentiment_trend": {"it": "Tendenza sentiment"},
    "sentiment_avg_30d": {"it": "Sentiment medio 30 gg"},
    "sentiment_avg_90d": {"it": "Sentiment medio 90 gg"},
    "negative_streak": {"it": "Messaggi negativi di fila"},
    "first_response_median_s": {"it": "Prima risposta mediana (s)"},
    "csat_avg": {"it": "CSAT medio"}, "csat_count": {"it": "Valutazioni CSAT"},
    "labels": {"it": "Etichette"}, "attributes": {"it": "Attributi"},
}  # fmt: skip


@dataclass(slots=True)
class ContactSignals:
    contact_id: int
    name: str | None = None
    email: str | None = None
    lifecycle_stage: str = "lead"
    attributes: dict[str, Any] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    first_interaction: datetime | None = None
    last_interaction: datetime | None = None
    messages_in: int = 0
    messages_out: int = 0
    sentiment_current: float | None = None
    sentiment_trend: str | None = None
    sentiment_avg_30d: float | None = None
    sentiment_avg_90d: float | None = None
    negative_streak: int = 0
    first_response_median_s: float | None = None
    csat_avg: float | None = None
    csat_count: int = 0
    labels: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 strings."""
        return {
            "contact_id": self.contact_id, "name": self.name, "email": self.email,
            "lifecycle_stage": self.lifecycle_stage, "channels": self.channels,
            "first_interaction": iso(self.first_interaction),
            "last_interaction": iso(self.last_interaction),
            "messages_in": self.messages_in, "messages_out": self.messages_out,
            "sentiment_current": self.sentiment_current, "sentiment_trend": self.sentiment_trend,
            "sentiment_avg_30d": self.sentiment_avg_30d,
            "sentiment_avg_90d": self.sentiment_avg_90d, "negative_streak": self.negative_streak,
            "first_response_median_s": self.first_response_median_s,
            "csat_avg": self.csat_avg, "csat_count": self.csat_count, "labels": self.labels,
            "attributes": self.attributes,
        }  # fmt: skip


Predicate = Callable[[ContactSignals], bool]


# Not customers to segment: an empty contact (a page view made a visitor who never wrote
# nor said who they are), a duplicate merged into another contact, an erased contact.
_not_empty = or_(
    exists().where(Conversation.contact_id == Contact.id),
    Contact.name.is_not(None), Contact.email.is_not(None), Contact.phone.is_not(None),
)  # fmt: skip


async def count_contacts(session: AsyncSession) -> int:
    """How many contacts the stream will go through (for progress bars)."""
    q = (
        select(func.count())
        .select_from(Contact)
        .where(Contact.merged_into_id.is_(None), Contact.erased_at.is_(None), _not_empty)
    )
    return int(await session.scalar(q) or 0)


def of_teams(teams: frozenset[int] | None) -> ColumnElement[bool]:
    """Contacts with a conversation in one of `teams` (None: every contact)."""
    if teams is None:
        return true()
    return Contact.id.in_(
        select(Conversation.contact_id).where(Conversation.team_id.in_(sorted(teams)))
    )


async def stream(
    session: AsyncSession,
    now: datetime,
    *,
    after_id: int = 0,
    chunk: int = CHUNK,
    teams: frozenset[int] | None = None,
) -> AsyncIterator[list[ContactSignals]]:
    """Every contact's signals (of `teams`' customers, when given), a chunk at a time, in
    ascending id after `after_id`."""
    while True:
        rows = list(
            await session.execute(
                select(Contact.id, Contact.name, Contact.email, Contact.lifecycle_stage,
                       Contact.attributes)
                .where(Contact.id > after_id, Contact.merged_into_id.is_(None))
                .where(Contact.erased_at.is_(None), _not_empty)
                .where(of_teams(teams))
                .order_by(Contact.id)
                .limit(chunk)
            )
        )  # fmt: skip
        if not rows:
            return
        yield await compute(session, rows, now)
        after_id = rows[-1].id
        if len(rows) < chunk:
            return


async def for_contact(
    session: AsyncSession, contact_id: int, now: datetime
) -> ContactSignals | None:
    """One contact's signals (None for an unknown contact)."""
    rows = list(
        await session.execute(
            select(Contact.id, Contact.name, Contact.email, Contact.lifecycle_stage,
                   Contact.attributes).where(Contact.id == contact_id)
        )
    )  # fmt: skip
    return (await compute(session, rows, now))[0] if rows else None


async def for_contacts(
    session: AsyncSession, contact_ids: Sequence[int], now: datetime
) -> list[ContactSignals]:
    """Signals of the given contacts (a small set, e.g. those changed since a push)."""
    out: list[ContactSignals] = []
    ids = sorted(set(contact_ids))
    for i in range(0, len(ids), CHUNK):
        rows = list(
            await session.execute(
                select(Contact.id, Contact.name, Contact.email, Contact.lifecycle_stage,
                       Contact.attributes)
                .where(Contact.id.in_(ids[i : i + CHUNK]), Contact.merged_into_id.is_(None))
                .order_by(Contact.id)
            )
        )  # fmt: skip
        if rows:
            out += await compute(session, rows, now)
    return out


async def compute(
    session: AsyncSession, rows: Sequence[Any], now: datetime
) -> list[ContactSignals]:
    """Signals of contacts given as rows (id, name, email, lifecycle_stage, attributes),
    sorted by id: every figure comes from grouped queries over the ids' range."""
    out = {
        r.id: ContactSignals(r.id, r.name, r.email, r.lifecycle_stage, dict(r.attributes or {}))
        for r in rows
    }
    lo, hi = rows[0].id, rows[-1].id
    in_range = and_(Conversation.contact_id >= lo, Conversation.contact_id <= hi)
    await _messages(session, in_range, now, out)
    await _conversations(session, in_range, out)
    await _csat(session, in_range, out)
    await _sentiment(session, in_range, out)
    return list(out.values())


def _count(direction: Direction) -> Any:
    return func.sum(case((Message.direction == direction.value, 1), else_=0))


def _avg_since(now: datetime, days: int) -> Any:
    scored = and_(
        Message.direction == Direction.IN.value,
        Message.sentiment_score.is_not(None),
        Message.created_at >= now - timedelta(days=days),
    )
    return func.avg(case((scored, cast(Message.sentiment_score, Float)), else_=None))


async def _messages(
    session: AsyncSession, in_range: Any, now: datetime, out: dict[int, ContactSignals]
) -> None:
    q = (
        select(
            Conversation.contact_id,
            func.min(Message.created_at),
            func.max(Message.created_at),
            cast(_count(Direction.IN), Integer),
            cast(_count(Direction.OUT), Integer),
            _avg_since(now, 30),
            _avg_since(now, 90),
        )
        .select_from(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(in_range, Message.direction != Direction.NOTE.value)
        .group_by(Conversation.contact_id)
    )
    for cid, first, last, n_in, n_out, avg30, avg90 in await session.execute(q):
        s = out.get(cid)
        if s is None:
            continue
        s.first_interaction, s.last_interaction = first, last
        s.messages_in, s.messages_out = int(n_in or 0), int(n_out or 0)
        s.sentiment_avg_30d = None if avg30 is None else round(float(avg30), 4)
        s.sentiment_avg_90d = None if avg90 is None else round(float(avg90), 4)


async def _conversations(
    session: AsyncSession, in_range: Any, out: dict[int, ContactSignals]
) -> None:
    q = select(
        Conversation.contact_id, Conversation.channel, Conversation.labels,
        Conversation.created_at, Conversation.first_response_at,
    ).where(in_range)  # fmt: skip
    channels: dict[int, set[str]] = defaultdict(set)
    labels: dict[int, set[str]] = defaultdict(set)
    waits: dict[int, list[float]] = defaultdict(list)
    for cid, channel, conv_labels, created, first_response in await session.execute(q):
        channels[cid].add(channel)
        labels[cid].update(conv_labels or ())
        if first_response is not None:
            waits[cid].append(max(0.0, (first_response - created).total_seconds()))
    for cid, s in out.items():
        s.channels = sorted(channels.get(cid, ()))
        s.labels = sorted(labels.get(cid, ()))
        s.first_response_median_s = percentile(waits.get(cid, []), 50)


async def _csat(session: AsyncSession, in_range: Any, out: dict[int, ContactSignals]) -> None:
    q = (
        select(Conversation.contact_id, func.avg(cast(CsatResponse.rating, Float)), func.count())
        .select_from(CsatResponse)
        .join(Conversation, Conversation.id == CsatResponse.conversation_id)
        .where(in_range)
        .group_by(Conversation.contact_id)
    )
    for cid, avg, n in await session.execute(q):
        if cid in out:
            out[cid].csat_avg = round(float(avg), 2)
            out[cid].csat_count = int(n)


def _scored_in(in_range: Any) -> Any:
    return and_(
        in_range, Message.direction == Direction.IN.value, Message.sentiment_score.is_not(None)
    )


async def _sentiment(session: AsyncSession, in_range: Any, out: dict[int, ContactSignals]) -> None:
    """Current, trend and streak from each contact's last `WINDOW` scored inbound messages."""
    ranked = (
        select(
            Conversation.contact_id.label("cid"),
            Message.sentiment_score.label("score"),
            Message.sentiment_label.label("label"),
            func.row_number()
            .over(
                partition_by=Conversation.contact_id,
                order_by=(Message.created_at.desc(), Message.id.desc()),
            )
            .label("rn"),
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(_scored_in(in_range))
        .subquery()
    )
    latest: dict[int, list[tuple[float, str | None]]] = defaultdict(list)
    q = select(ranked.c.cid, ranked.c.score, ranked.c.label).where(ranked.c.rn <= rollups.WINDOW)
    for cid, score, label in await session.execute(q.order_by(ranked.c.cid, ranked.c.rn)):
        latest[cid].append((float(score), label))
    long_streaks: list[int] = []
    for cid, newest_first in latest.items():
        s = out.get(cid)
        if s is None:
            continue
        scores = [score for score, _ in reversed(newest_first)]
        s.sentiment_current = rollups.current(scores)
        s.sentiment_trend = rollups.trend(scores)
        s.negative_streak = rollups.negative_streak(label for _, label in newest_first)
        if s.negative_streak == rollups.WINDOW:
            long_streaks.append(cid)
    if long_streaks:
        for cid, n in (await _streaks(session, long_streaks)).items():
            out[cid].negative_streak = n


async def _streaks(session: AsyncSession, contact_ids: list[int]) -> dict[int, int]:
    """Negative streaks longer than the window, counted in SQL: the negatives after each
    contact's last non-negative score."""
    mine = Conversation.contact_id.in_(contact_ids)
    last_ok = (
        select(Conversation.contact_id.label("cid"), func.max(Message.created_at).label("at"))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(_scored_in(mine), Message.sentiment_label != rollups.NEGATIVE)
        .group_by(Conversation.contact_id)
        .subquery()
    )
    q = (
        select(Conversation.contact_id, func.count())
        .select_from(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(last_ok, last_ok.c.cid == Conversation.contact_id)
        .where(_scored_in(mine), (last_ok.c.at.is_(None)) | (Message.created_at > last_ok.c.at))
        .group_by(Conversation.contact_id)
    )
    return {cid: int(n) for cid, n in await session.execute(q)}


# ---- exports ---------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with a '."""
    return safe_text(value) if isinstance(value, str) else value


def csv_row(s: ContactSignals) -> list[Any]:
    d = s.as_dict()
    d["channels"] = ";".join(s.channels)
    d["labels"] = ";".join(s.labels)
    d["attributes"] = json.dumps(s.attributes, ensure_ascii=False, sort_keys=True)
    return [_cell("" if d[c] is None else d[c]) for c in CSV_COLUMNS]


def sheet_row(s: ContactSignals, style: SheetStyle) -> list[Any]:
    """A row for a spreadsheet in the reader's language (inbox/spreadsheet_csv.py)."""
    raw = {c: getattr(s, c) for c in CSV_COLUMNS}
    raw["channels"] = ", ".join(s.channels)
    raw["labels"] = ", ".join(s.labels)
    raw["attributes"] = json.dumps(s.attributes, ensure_ascii=False, sort_keys=True)
    return [raw[c] for c in CSV_COLUMNS]


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def ndjson_line(s: ContactSignals) -> str:
    return _ENCODER.encode(s.as_dict()) + "\n"


async def export(
    session: AsyncSession, fmt: str, now: datetime, predicate: Predicate | None = None,
    on_chunk: Callable[[int, int], None] | None = None, teams: frozenset[int] | None = None,
    style: SheetStyle | None = None,
) -> AsyncIterator[str]:  # fmt: skip
    """The export as text pieces (a header, then one piece per chunk of contacts).

    `on_chunk(scanned, written)` is told after each chunk (for progress bars). With a
    `style`, CSV is for a spreadsheet in the reader's language (inbox/spreadsheet_csv.py)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "csv":
        yield (
            BOM + style.rows([style.header(CSV_COLUMNS, COLUMN_NAMES)])
            if style is not None
            else _csv_text([list(CSV_COLUMNS)])
        )
    async for chunk in stream(session, now, teams=teams):
        chosen = [s for s in chunk if predicate is None or predicate(s)]
        if not chosen:
            pass
        elif fmt == "ndjson":
            yield "".join(ndjson_line(s) for s in chosen)
        elif style is not None:
            yield style.rows(sheet_row(s, style) for s in chosen)
        else:
            yield _csv_text([csv_row(s) for s in chosen])
        if on_chunk is not None:
            on_chunk(len(chunk), len(chosen))


def _csv_text(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()
