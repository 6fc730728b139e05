"""Email as a channel: settings, outbound replies over SMTP, and the intake of mail.

An email inbox keeps its configuration in `Inbox.settings` (see docs/email.md):
our address, the SMTP relay for replies, the IMAP mailbox to read, the extra
addresses accepted by our own SMTP server. Passwords are never stored there, only
where to find them: `smtp_password_env` / `smtp_password_file` (and the same for
`imap_`).

Replies carry our own Message-ID (kept as the message's external id), and
In-Reply-To / References from the conversation, so the customer's mail client
threads them and the customer's answer comes back into the same conversation.
An SMTP refusal (5xx) fails the reply for good; 4xx and network errors are retried.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.base import ParseError, VerificationError
from connectors.email_parse import ParsedEmail, parse_email
from inbox import continuity
from inbox.files import FileStore
from inbox.ingest import Ingested, Tagger
from inbox.intake import Intake
from inbox.model import Inbox, Message, StoredFile, utcnow
from inbox.relay import Relay
from inbox.types import (
    Attachment,
    Channel,
    DeliveryError,
    InboundMessage,
    OutboundMessage,
    Sender,
    SentReceipt,
)

log = logging.getLogger("crocevia.email")

MAX_PART = 25 * 1024 * 1024
MAX_REFERENCES = 20
_NO_REPLY = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "noreply", "no-reply"})


class EmailConfigError(ValueError):
    """The inbox's email settings are incomplete or unsafe."""


def read_secret(settings: Mapping[str, Any], name: str) -> str | None:
    """A password named by `<name>_env` (an environment variable) or `<name>_file`."""
    if name in settings:
        raise EmailConfigError(
            f"{name} must not be stored in the inbox settings: use {name}_env or {name}_file"
        )
    env = settings.get(f"{name}_env")
    if env:
        value = os.environ.get(str(env))
        if value is None:
            raise EmailConfigError(f"the environment variable {env} ({name}) is not set")
        return value
    path = settings.get(f"{name}_file")
    if path:
        try:
            return Path(str(path)).read_text().strip()
        except OSError as exc:
            raise EmailConfigError(f"cannot read {name}_file {path}: {exc}") from None
    return None


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """One email inbox's settings, read from `Inbox.settings`."""

    address: str
    from_name: str | None = None
    aliases: tuple[str, ...] = ()
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | tls | none
    smtp_username: str | None = None
    smtp_ca_file: str | None = None  # a private CA for the relay's certificate
    imap_host: str | None = None
    imap_port: int = 993
    imap_security: str = "tls"  # tls | none
    imap_username: str | None = None
    imap_mailbox: str = "INBOX"
    poll_interval: float = 60.0
    raw: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, inbox: Inbox) -> EmailSettings:
        s = dict(inbox.settings or {})
        address = str(s.get("address") or "").strip().lower()
        if "@" not in address:
            raise EmailConfigError(f"inbox {inbox.id} has no 'address' in its settings")
        for key, allowed in (("smtp_security", ("starttls", "tls", "none")),
                             ("imap_security", ("tls", "none"))):  # fmt: skip
            if key in s and s[key] not in allowed:
                raise EmailConfigError(f"{key} must be one of {', '.join(allowed)}")
        return cls(
            address=address,
            from_name=s.get("from_name") or inbox.name,
            aliases=tuple(str(a).lower() for a in s.get("aliases", [])),
            smtp_host=s.get("smtp_host"),
            smtp_port=int(s.get("smtp_port", 587)),
            smtp_security=str(s.get("smtp_security", "starttls")),
            smtp_username=s.get("smtp_username"),
            smtp_ca_file=s.get("smtp_ca_file"),
            imap_host=s.get("imap_host"),
            imap_port=int(s.get("imap_port", 993)),
            imap_security=str(s.get("imap_security", "tls")),
            imap_username=s.get("imap_username") or address,
            imap_mailbox=str(s.get("imap_mailbox", "INBOX")),
            poll_interval=float(s.get("poll_interval", 60)),
            raw=s,
        )

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.address, *self.aliases)

    def secret(self, name: str) -> str | None:
        return read_secret(self.raw or {}, name)


def reply_subject(subject: str | None) -> str:
    subject = (subject or "").strip()
    if not subject:
        return "Re: your message"
    return subject if subject.lower().startswith(("re:", "r:", "aw:")) else f"Re: {subject}"


def references(thread_ids: tuple[str, ...]) -> list[str]:
    """The References to send: the thread's first id and its latest ones (RFC 5322 3.6.4)."""
    ids = list(dict.fromkeys(thread_ids))
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


def _permanent(code: int) -> bool:
    return 500 <= code < 600


class EmailConnector:
    """Sends an email inbox's replies through its SMTP relay."""

    channel = Channel.EMAIL.value

    def __init__(
        self,
        inbox_id: int,
        settings: EmailSettings | EmailConfigError,
        *,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        files: FileStore | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.inbox_id = inbox_id
        self._settings = settings
        self.sessions = sessions
        self.files = files
        self.timeout = timeout

    @classmethod
    def for_inbox(
        cls,
        inbox: Inbox,
        *,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        files: FileStore | None = None,
    ) -> EmailConnector:
        """The inbox's connector; with bad settings, one whose every send fails visibly.
        With `sessions` and `files`, a reply's stored attachments go with the mail."""
        try:
            return cls(inbox.id, EmailSettings.of(inbox), sessions=sessions, files=files)
        except EmailConfigError as exc:
            return cls(inbox.id, exc, sessions=sessions, files=files)

    async def attach(self, mail: EmailMessage, attachments: tuple[Attachment, ...]) -> None:
        """Add the reply's stored files (`/api/files/{id}`) to the mail."""
        ids = [
            a.url.rsplit("/", 1)[1]
            for a in attachments
            if a.url and a.url.startswith("/api/files/")
        ]
        if not ids:
            return
        if self.sessions is None or self.files is None:
            raise DeliveryError("this worker cannot read stored attachments", retryable=False)
        async with self.sessions() as session:
            rows = {
                r.id: r
                for r in (
                    await session.execute(select(StoredFile).where(StoredFile.id.in_(ids)))
                ).scalars()
            }
        for file_id in ids:
            row = rows.get(file_id)
            path = self.files.path(row.sha256) if row else None
            if row is None or path is None or not path.exists():
                raise DeliveryError(f"attachment {file_id} is gone", retryable=False)
            maintype, _, subtype = row.content_type.partition("/")
            mail.add_attachment(
                path.read_bytes(), maintype=maintype, subtype=subtype or "octet-stream",
                filename=row.name,
            )  # fmt: skip

    @property
    def settings(self) -> EmailSettings:
        if isinstance(self._settings, EmailConfigError):
            raise DeliveryError(str(self._settings), retryable=False)
        return self._settings

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        raise VerificationError("email arrives over IMAP or SMTP, never by webhook")

    def parse(self, payload: Any) -> list[InboundMessage]:
        if not isinstance(payload, bytes | bytearray):
            raise ParseError("expected the raw bytes of one mail")
        return [parse_email(bytes(payload)).inbound(self.inbox_id)]

    def new_message_id(self, message_id: int) -> str:
        return f"crocevia.{message_id}.{secrets.token_hex(6)}@{self.settings.domain}"

    def compose(self, message: OutboundMessage, message_id: str) -> EmailMessage:
        recipient = message.recipient_email or message.recipient_external_id
        if not recipient or "@" not in recipient:
            raise DeliveryError("the contact has no email address", retryable=False)
        if recipient.split("@")[0].lower() in _NO_REPLY:
            raise DeliveryError(f"{recipient} is a robot: it is never answered", retryable=False)
        s = self.settings
        mail = EmailMessage()
        mail["From"] = formataddr((s.from_name or "", s.address))
        mail["To"] = recipient
        mail["Subject"] = reply_subject(message.subject)
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = f"<{message_id}>"
        if message.reply_to_address:
            mail["Reply-To"] = message.reply_to_address
        refs = references(message.thread_ids)
        parent = message.reply_to_external_id or (refs[-1] if refs else None)
        if parent:
            mail["In-Reply-To"] = f"<{parent}>"
        if refs:
            mail["References"] = " ".join(f"<{i}>" for i in refs)
        mail.set_content(message.text)
        return mail

    async def robot_context(self, message: OutboundMessage) -> tuple[bool, str | None]:
        """(whether the reply is automatic, i.e. has no agent author; why the customer's
        latest mail was machine-written, or None). Needs `sessions`; else (False, None)."""
        if self.sessions is None:
            return False, None
        async with self.sessions() as session:
            row = await session.get(Message, message.message_id)
            if row is None:
                return False, None
            latest = (
                await session.execute(
                    select(Message.attachments)
                    .where(Message.conversation_id == row.conversation_id)
                    .where(Message.direction == "in")
                    .order_by(Message.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
        reason = next(
            (
                a["data"].get("automated")
                for a in latest or []
                if a.get("data", {}).get("role") == "original"
            ),
            None,
        )
        return row.author_agent_id is None, reason

    async def send(self, message: OutboundMessage) -> SentReceipt:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryError(f"inbox {self.inbox_id} has no smtp_host", retryable=False)
        automatic, robot = await self.robot_context(message)
        if automatic and robot:
            raise DeliveryError(
                f"an automatic message is never sent in answer to a robot ({robot})",
                retryable=False,
            )
        message_id = self.new_message_id(message.message_id)
        mail = self.compose(message, message_id)
        if automatic:
            mail["Auto-Submitted"] = "auto-replied"  # RFC 3834: robots must not answer it
        await self.attach(mail, message.attachments)
        try:
            password = s.secret("smtp_password")
        except EmailConfigError as exc:
            raise DeliveryError(str(exc), retryable=False) from None
        try:
            await aiosmtplib.send(
                mail,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username if password is not None else None,
                password=password,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                cert_bundle=s.smtp_ca_file,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryError(
                f"recipient refused: {'; '.join(f'{r.code} {r.message}' for r in exc.recipients)}",
                retryable=not any(_permanent(c) for c in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.code} {exc.message}", retryable=not _permanent(exc.code)
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP unavailable: {exc}", retryable=True) from None
        return SentReceipt(external_id=message_id, sent_at=utcnow())


class MailIntake:
    """Stores incoming mail through the intake (inbox/intake.py): its files and original,
    then the message, in one transaction; then the events.

    A mail whose Message-ID the inbox already holds produces nothing new.
    """

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
                data={"role": "original", "sha256": digest, "automated": parsed.automated,
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
