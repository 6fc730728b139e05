"""The contact behind a widget visitor, made only when there is something to keep.

A page view opens a widget session and nothing more: the visitor token names the inbox
and the visitor, with contact 0 ("none yet"), and no row is written. The contact (and the
visitor's `website` identity) is made when the visitor first writes, fills in the
pre-chat form, or is identified by the shop (`setUser`); from then on the identity says
who they are, so a token issued before that still finds them.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from gateway.visitor_tokens import Visitor
from inbox.model import Contact, Identity

_CONTACT_OF = select(Identity.contact_id).where(
    Identity.channel == "website", Identity.external_id == bindparam("visitor_id")
)


async def resolved(session: AsyncSession, visitor: Visitor) -> Visitor:
    """The visitor with their contact, if one was made since their token was issued."""
    if visitor.contact_id:
        return visitor
    found = await session.scalar(_CONTACT_OF, {"visitor_id": visitor.visitor_id})
    return Visitor(visitor.inbox_id, visitor.visitor_id, found) if found else visitor


def resolved_sync(session: Session, visitor: Visitor) -> Visitor:
    """`resolved` in a synchronous session (a widget socket's authentication)."""
    if visitor.contact_id:
        return visitor
    found = session.scalar(_CONTACT_OF, {"visitor_id": visitor.visitor_id})
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
