"""The contact behind a widget visitor, made only when there is something to keep.

A page view opens a widget session and nothing more: the visitor token names the inbox
and the visitor, with contact 0 ("none yet"), and no row is written. The contact (and the
visitor's `website` identity) is made when the visitor first writes, fills in the
pre-chat form, or is identified by the shop (`setUser`); from then on the identity says
who they are, so a token issued before that still finds them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from gateway.visitor_tokens import Visitor
from inbox.model import Contact, Identity


async def resolved(session: AsyncSession, visitor: Visitor) -> Visitor:
    """The visitor with their contact, if one was made since their token was issued."""
    if visitor.contact_id:
        return visitor
    found = await session.scalar(
        select(Identity.contact_id).where(
            Identity.channel == "website", Identity.external_id == visitor.visitor_id
        )
    )
    return Visitor(visitor.inbox_id, visitor.visitor_id, found) if found else visitor


async def make(session: AsyncSession, visitor: Visitor, name: str | None = None,
               email: str | None = None) -> Visitor:  # fmt: skip
    """The visitor's contact, made now in the caller's transaction unless they have one.
    An email the visitor typed is unverified (it never ties them to its owner)."""
    visitor = await resolved(session, visitor)
    if visitor.contact_id:
        return visitor
    contact = Contact(name=name, email=email, email_verified=False if email else None,
                      attributes={})  # fmt: skip
    session.add(contact)
    await session.flush()
    session.add(Identity(channel="website", external_id=visitor.visitor_id, contact_id=contact.id))
    await session.flush()
    return Visitor(visitor.inbox_id, visitor.visitor_id, contact.id)


async def ensure(sessions: async_sessionmaker[AsyncSession], visitor: Visitor) -> Visitor:
    """`make` in a transaction of its own; two tabs writing at once make one contact."""
    for _attempt in range(3):
        try:
            async with sessions() as session, session.begin():
                return await make(session, visitor)
        except IntegrityError:  # the other tab's identity won: read it
            continue
    async with sessions() as session:
        return await resolved(session, visitor)


def make_many(session: Session, visitors: Sequence[Visitor]) -> list[Visitor]:
    """`ensure` for many visitors in the caller's (synchronous) transaction: one look-up,
    one insert of contacts, one of identities; one result per visitor, in order. The
    gateway runs it on the intake's writer (inbox/writes.py). Raises IntegrityError when
    another transaction made one of these contacts meanwhile (then use `ensure`)."""
    wanted = {v.visitor_id for v in visitors if not v.contact_id}
    found: dict[str, int] = {}
    if wanted:
        rows = session.execute(
            select(Identity.external_id, Identity.contact_id).where(
                Identity.channel == "website", Identity.external_id.in_(wanted)
            )
        )
        found = {external_id: contact_id for external_id, contact_id in rows.all()}
    missing = sorted(wanted - set(found))
    contacts = {vid: Contact(attributes={}) for vid in missing}
    if contacts:
        session.add_all(contacts.values())
        session.flush()
        session.add_all(
            Identity(channel="website", external_id=vid, contact_id=c.id)
            for vid, c in contacts.items()
        )
        session.flush()
        found |= {vid: c.id for vid, c in contacts.items()}
    return [
        v if v.contact_id else Visitor(v.inbox_id, v.visitor_id, found[v.visitor_id])
        for v in visitors
    ]
