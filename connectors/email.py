"""Email as a channel: settings and outbound replies over SMTP (mail coming in is
stored by receivers/mail_intake.py).

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

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any

import aiosmtplib

from connectors.base import ParseError, VerificationError
from connectors.email_parse import parse_email
from inbox.types import (
    Attachment,
    Channel,
    DeliveryError,
    InboundMessage,
    InboxRecord,
    OutboundMessage,
    SentReceipt,
    utcnow,
)

log = logging.getLogger("crocevia.email")

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
    def of(cls, inbox: InboxRecord) -> EmailSettings:
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
        self, inbox_id: int, settings: EmailSettings | EmailConfigError, *, timeout: float = 30.0
    ) -> None:
        self.inbox_id = inbox_id
        self._settings = settings
        self.timeout = timeout

    @classmethod
    def for_inbox(cls, inbox: InboxRecord) -> EmailConnector:
        """The inbox's connector; with bad settings, one whose every send fails visibly."""
        try:
            return cls(inbox.id, EmailSettings.of(inbox))
        except EmailConfigError as exc:
            return cls(inbox.id, exc)

    @staticmethod
    def attach(mail: EmailMessage, attachments: tuple[Attachment, ...]) -> None:
        """Add the reply's files (their bytes read by the inbox from our file store)."""
        for a in attachments:
            if a.content is None:
                raise DeliveryError(
                    f"attachment {a.name or a.url!r} is gone: there is no file to send",
                    retryable=False,
                )
            maintype, _, subtype = (a.content_type or "application/octet-stream").partition("/")
            mail.add_attachment(
                a.content, maintype=maintype, subtype=subtype or "octet-stream",
                filename=a.name or "file",
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

    async def send(self, message: OutboundMessage) -> SentReceipt:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryError(f"inbox {self.inbox_id} has no smtp_host", retryable=False)
        if message.automatic and message.answers_robot:
            raise DeliveryError(
                f"an automatic message is never sent in answer to a robot ({message.answers_robot})",
                retryable=False,
            )
        message_id = self.new_message_id(message.message_id)
        mail = self.compose(message, message_id)
        if message.automatic:
            mail["Auto-Submitted"] = "auto-replied"  # RFC 3834: robots must not answer it
        self.attach(mail, message.attachments)
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
