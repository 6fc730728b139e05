"""Search for the console: the conversations an agent may see whose messages (full text)
or customer (name, email, phone) match what they typed.

Messages are searched with PostgreSQL's full text (the Italian configuration, indexed by
migration 0008), so "rimborsi" finds "rimborso"; on SQLite each word, its final vowel
dropped, must appear in the text ("rimbors" finds both).
Private notes are searched too (agents see them); what a viewer may not see is never
returned (inbox/access.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import Viewer
from inbox.model import Contact, Conversation, Message
from inbox.serialize import conversation_dict

MAX_QUERY = 200
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Hit:
    conversation: dict[str, Any]
    message_id: int | None  # the newest matching message, if a message matched
    snippet: str  # where the words were found (message text, or the contact's field)


def _snippet(body: str, words: list[str], width: int = 120) -> str:
    lower = body.lower()
    at = min((i for w in words if (i := lower.find(w[:5].lower())) >= 0), default=0)
    start = max(0, at - width // 3)
    cut = body[start : start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(body) else "")


def _light_stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word[-1].lower() in "aeiouàèéìòù" else word


def _message_match(session: AsyncSession, words: list[str]) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        query = func.plainto_tsquery("italian", " ".join(words))
        return func.to_tsvector("italian", Message.text).op("@@")(query)
    # SQLite: every word, its final vowel dropped as a light Italian stemmer, somewhere in
    # the text ("rimborsi" -> "rimbors" finds "rimborso"); a scan, fine for one shop.
    return and_(*(Message.text.ilike(f"%{_light_stem(w)}%", escape="\\") for w in words))


async def search(session: AsyncSession, viewer: Viewer, query: str, limit: int = 20) -> list[Hit]:
    words = _WORD.findall(query[:MAX_QUERY])
    if not words or not viewer.reads_conversations:
        return []
    newest = (
        select(Message.conversation_id, func.max(Message.id).label("mid"))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(_message_match(session, words), viewer.sql_filter())
        .group_by(Message.conversation_id)
        .order_by(func.max(Message.id).desc())
        .limit(limit)
    )
    by_message = {int(cid): int(mid) for cid, mid in await session.execute(newest)}
    like = f"%{' '.join(words)}%"
    digits = re.sub(r"\D", "", query)
    people = [Contact.name.ilike(like), Contact.email.ilike(like)]
    if len(digits) >= 4:
        people.append(Contact.phone.like(f"%{digits}%"))
    by_contact = (
        select(Conversation.id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(or_(*people), Contact.erased_at.is_(None), viewer.sql_filter())
        .order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())
        .limit(limit)
    )
    contact_convs = [int(c) for c in (await session.execute(by_contact)).scalars()]
    ids = list(dict.fromkeys([*by_message, *contact_convs]))[:limit]
    if not ids:
        return []
    rows = await session.execute(
        select(Conversation, Contact)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.id.in_(ids))
    )
    found = {conv.id: (conv, contact) for conv, contact in rows.tuples()}
    texts = dict(
        (await session.execute(
            select(Message.id, Message.text).where(Message.id.in_(list(by_message.values())))
        )).tuples().all()
    )  # fmt: skip
    hits = []
    for cid in ids:
        if cid not in found:
            continue
        conv, contact = found[cid]
        mid = by_message.get(cid)
        if mid is not None:
            snippet = _snippet(texts.get(mid, ""), words)
        else:
            snippet = " · ".join(x for x in (contact.name, contact.email, contact.phone) if x)
        hits.append(Hit(conversation_dict(conv, contact), mid, snippet))
    return hits
