"""Linking a platform identity to a contact we already know.

A customer who opens a signed link (Telegram's `/start` payload, connectors/telegram.py)
names the contact they are: their identity on that channel then points there, following
merges, so their messages join the contact's record instead of a new one.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import Contact, Identity
from inbox.types import Sender

log = logging.getLogger("crocevia.identities")


async def link_identity(
    sessions: async_sessionmaker[AsyncSession], channel: str, sender: Sender, contact_id: int
) -> bool:
    """Point the `channel` identity of `sender` at `contact_id` (or the contact it was
    merged into); False when that contact does not exist."""
    for _attempt in range(2):
        try:
            async with sessions() as session, session.begin():
                contact = await session.get(Contact, contact_id)
                if contact is None:
                    return False
                while contact.merged_into_id is not None:
                    contact = await session.get_one(Contact, contact.merged_into_id)
                identity = (
                    await session.execute(
                        select(Identity).where(
                            Identity.channel == channel,
                            Identity.external_id == sender.external_id,
                        )
                    )
                ).scalar_one_or_none()
                if identity is None:
                    session.add(
                        Identity(
                            channel=channel, external_id=sender.external_id,
                            contact_id=contact.id, handle=sender.handle, display_name=sender.name,
                        )
                    )  # fmt: skip
                elif identity.contact_id != contact.id:
                    log.info("identity_moved", extra={"channel": channel, "identity": identity.id,
                             "from": identity.contact_id, "to": contact.id})  # fmt: skip
                    identity.contact_id = contact.id
                return True
        except IntegrityError:  # the identity appeared meanwhile: look again
            continue
    return False
