"""Mail coming in, from IMAP or our SMTP server (receivers/imap.py, smtp_server.py), parsed
by connectors/email_parse.py: its parts and original kept in the
file store, then the message, in one transaction (inbox/intake.py); then the events.

A mail whose Message-ID the inbox already holds produces nothing new. An answer to a
website reply we mailed (inbox/continuity.py) goes back into that chat.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.email_parse import ParsedEmail, parse_email
from inbox import continuity
from inbox.files import FileStore
from inbox.ingest import Ingested, Tagger
from inbox.intake import Intake
from inbox.mail_original import ORIGINAL
from inbox.model import Inbox, Message
from inbox.relay import Relay
from inbox.types import Attachment, Channel, InboundMessage, Sender

log = logging.getLogger("crocevia.email")

MAX_PART = 25 * 1024 * 1024


class MailIntake:
    """Stores incoming mail through the intake."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        relay: Relay | None,
        files: FileStore,
        tagger: Tagger | None = None,
    ) -> None:
        self.sessions = sessions
        self.relay = relay
        self.files = files
        self.intake = Intake(sessions, relay, tagger)

    async def _known(self, session: AsyncSession, inbox_id: int, external_id: str) -> bool:
        found = await session.execute(
            select(Message.id)
            .where(Message.inbox_id == inbox_id, Message.external_id == external_id)
            .limit(1)
        )
        return found.first() is not None

    async def _attachments(
        self, session: AsyncSession, inbox_id: int, parsed: ParsedEmail, raw: bytes
    ) -> tuple[Attachment, ...]:
        found: list[Attachment] = []
        for part in parsed.parts:
            if len(part.data) > MAX_PART:
                log.warning("email_part_too_large", extra={"part": part.name})
                continue
            row = await self.files.save(session, part.data, part.name, inbox_id=inbox_id)
            found.append(
                Attachment(
                    kind="image" if row.content_type.startswith("image/") else "file",
                    url=f"/api/files/{row.id}", name=row.name, content_type=row.content_type,
                    size=row.size, data={"declared_type": part.content_type},
                )
            )  # fmt: skip
        original = await self.files.save(session, raw, "original.eml", inbox_id=inbox_id)
        digest = hashlib.sha256(raw).hexdigest()
        found.append(
            Attachment(
                kind="file", url=f"/api/files/{original.id}", name="original.eml",
                content_type="message/rfc822", size=original.size,
                data={"role": ORIGINAL, "sha256": digest, "automated": parsed.automated,
                      "full_text": parsed.full_text[:20000] if parsed.full_text != parsed.text else None,
                      "quoted": parsed.quoted[:20000] or None},
            )
        )  # fmt: skip
        return tuple(found)

    async def _continued_chat(
        self, session: AsyncSession, inbox_id: int, parsed: ParsedEmail
    ) -> InboundMessage | None:
        """An answer to a website reply we mailed (inbox/continuity.py): the message for
        that chat, as if the visitor typed it in the widget."""
        email_inbox = await session.get(Inbox, inbox_id)
        conv = (
            await continuity.website_conversation(session, email_inbox, parsed.recipients)
            if email_inbox is not None
            else None
        )
        visitor = await continuity.visitor_of(session, conv) if conv is not None else None
        if conv is None or visitor is None:
            return None
        return InboundMessage(
            channel=Channel.WEBSITE, inbox_id=conv.inbox_id,
            external_id=f"email:{parsed.message_id}", sender=Sender(external_id=visitor),
            text=parsed.text, sent_at=parsed.sent_at,
            raw={"via": "email", "automated": parsed.automated},
        )  # fmt: skip

    async def take(
        self, inbox_id: int, raw: bytes, envelope_from: str | None = None
    ) -> Ingested | None:
        """Store one mail for `inbox_id`; None when it was stored before."""
        parsed = parse_email(raw, envelope_from)

        async def build(session: AsyncSession) -> InboundMessage | None:
            item = await self._continued_chat(session, inbox_id, parsed)
            target_inbox = item.inbox_id if item else inbox_id
            external = item.external_id if item else parsed.message_id
            if await self._known(session, target_inbox, external):
                log.info("email_duplicate", extra={"message_id": parsed.message_id})
                return None
            attachments = await self._attachments(session, target_inbox, parsed, raw)
            if item:
                return replace(item, attachments=attachments)
            return parsed.inbound(inbox_id, attachments)

        for _attempt in range(3):
            try:
                result = await self.intake.store_one(build)
            except IntegrityError:
                continue  # another process stored it (or opened the thread) first
            if result is not None:
                log.info("email_stored", extra={"inbox": inbox_id, "message_id": parsed.message_id,
                                                "automated": parsed.automated})  # fmt: skip
            return result
        raise RuntimeError(f"could not store mail {parsed.message_id}")
