"""MIME to `InboundMessage`: the text an agent reads, the thread hints, the attachments.

The text is the plain-text body when there is one, else the HTML body turned into
readable text (html2text). Quoted history and the signature are split from that
text (`connectors.email_quotes`): the agent reads the customer's own words and the
console folds the rest; the whole original stays in the message as an .eml
attachment (see `MailIntake` in `receivers.mail_intake`). Any charset is
read, with fallbacks: a part that lies about its charset is still shown.

Mail written by machines (auto-replies, bulk mail, bounces) is recognised and
flagged (`automated`), so that nothing ever answers it automatically.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr

import html2text

from connectors.email_quotes import split_reply
from inbox.types import Attachment, Channel, InboundMessage, Sender

#: Charsets that mail clients write but mean windows-1252 (as browsers read them).
_CP1252_ALIASES = frozenset({"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii"})
_MAILTO = re.compile(r"\[([^\]\n]*)\]\(<?mailto:([^)\s]*?)>?\)")  # html2text's [a@b](<mailto:a@b>)
_MD_ESCAPE = re.compile(r"^(\s*(?:\d+)?)\\([-+#.])", re.MULTILINE)  # html2text's "\-", "1\."
_MSGID = re.compile(r"<([^<>\s]+)>")
_MAX_ID = 255

_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon"})


@dataclass(frozen=True, slots=True)
class Part:
    """A file carried by the mail, not yet stored."""

    name: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class ParsedEmail:
    """Everything the inbox needs from one mail; `inbound` adds the stored files."""

    message_id: str
    sender: Sender
    subject: str | None
    text: str  # what the agent reads: quotes and signature cut
    quoted: str  # what was cut, for the console to fold ("" when nothing was)
    full_text: str  # the whole body as text
    thread_ids: tuple[str, ...]
    sent_at: datetime | None
    automated: str | None  # why this mail was written by a machine, or None
    recipients: tuple[str, ...]
    parts: list[Part] = field(default_factory=list)

    def inbound(self, inbox_id: int, attachments: tuple[Attachment, ...] = ()) -> InboundMessage:
        return InboundMessage(
            channel=Channel.EMAIL,
            inbox_id=inbox_id,
            external_id=self.message_id,
            sender=self.sender,
            text=self.text,
            sent_at=self.sent_at,
            attachments=attachments,
            reply_to=self.thread_ids[-1] if self.thread_ids else None,
            thread_ids=self.thread_ids,
            subject=self.subject,
            raw={"automated": self.automated, "recipients": list(self.recipients)},
        )


def message_ids(value: str | None) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References header, without brackets."""
    if not value:
        return []
    found = _MSGID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip()]  # a bare id, as some robots write it
    return [_fit_id(i) for i in found]


def _fit_id(value: str) -> str:
    if len(value) <= _MAX_ID:
        return value
    return "sha256-" + hashlib.sha256(value.encode()).hexdigest() + "@long.id"


def decode_text(part: Message) -> str:
    """A text part's content, whatever its declared charset (with fallbacks)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = str(part.get_payload()).encode("utf-8", "replace")
    charset = (part.get_content_charset() or "utf-8").lower()
    if charset in _CP1252_ALIASES:
        charset = "windows-1252"
    text: str | None = None
    for candidate in (charset, "utf-8"):
        try:
            text = payload.decode(candidate)
            break
        except (LookupError, UnicodeDecodeError):
            continue
    if text is None:
        text = payload.decode("windows-1252", "replace")
    return text.replace("\r\n", "\n")


def _mail_link(match: re.Match[str]) -> str:
    """A mailto link as mail clients show it: the address, or "name <address>"."""
    label, address = match.group(1), match.group(2).split("?")[0]
    return label if label in (address, "") or not address else f"{label} <{address}>"


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.protect_links = True
    text = _MAILTO.sub(_mail_link, converter.handle(html))
    return _MD_ESCAPE.sub(r"\1\2", text).strip()  # the console shows text, not Markdown


def strip_quoted(text: str) -> str:
    """The new part of a reply: without the quoted history and the signature."""
    return split_reply(text).visible


def _address(value: object) -> tuple[str, str | None]:
    addresses: tuple[Address, ...] = getattr(value, "addresses", ())
    if addresses:
        return addresses[0].addr_spec.lower(), addresses[0].display_name or None
    name, addr = parseaddr(str(value or ""))
    return addr.lower(), name or None


def automated_reason(msg: Message, envelope_from: str | None = None) -> str | None:
    """Why this mail came from a machine (never answer it automatically), or None."""
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted: {auto.split(';')[0]}"
    if msg.get_content_type() == "multipart/report":
        return "bounce"
    return_path = msg.get("Return-Path")
    if envelope_from == "" or (return_path is not None and str(return_path).strip() in ("<>", "")):
        return "bounce"
    sender, _name = _address(msg.get("From"))
    if sender.split("@")[0] in _BOUNCE_SENDERS:
        return "bounce"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponse"):
        if msg.get(header) is not None:
            return header.lower()
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None:
        return "mailing list"
    return None


def _original_ids(msg: Message) -> list[str]:
    """In a bounce: the Message-ID of the mail that could not be delivered."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(first, Message):
                return message_ids(str(first.get("Message-ID", "")))
        elif kind == "text/rfc822-headers":
            headers = BytesParser(policy=policy.default).parsebytes(
                decode_text(part).encode(), headersonly=True
            )
            return message_ids(str(headers.get("Message-ID", "")))
    return []


def _parts(msg: Message, body: Message | None) -> list[Part]:
    """The files in the mail: every leaf that is not the body or its alternative."""
    found: list[Part] = []

    def visit(part: Message) -> None:
        kind = part.get_content_type()
        if part is body:
            return
        if kind == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            data = first.as_bytes() if isinstance(first, Message) else b""
            found.append(Part(part.get_filename() or "message.eml", kind, data))
            return
        if part.is_multipart():
            for sub in part.iter_parts() if isinstance(part, EmailMessage) else part.get_payload():
                if isinstance(sub, Message):
                    visit(sub)
            return
        name = part.get_filename()
        inline_text = kind in ("text/plain", "text/html") and not name
        if inline_text and part.get_content_disposition() != "attachment":
            return  # the other rendering of the body
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            found.append(Part(name or f"part-{len(found) + 1}", kind, payload))

    visit(msg)
    return found


def _sent_at(msg: Message) -> datetime | None:
    header = msg.get("Date")
    when = getattr(header, "datetime", None)
    if not isinstance(when, datetime):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


UNREADABLE = "[This mail could not be read; the original is attached.]"


def parse_email(raw: bytes, envelope_from: str | None = None) -> ParsedEmail:
    """Read one RFC 5322 mail. `envelope_from` is the SMTP MAIL FROM when known.

    A mail whose headers the standard library's parser chokes on (it raises IndexError
    or HeaderParseError on some crafted addresses) is still kept: as a message saying
    so, with the original attached by the intake, from the envelope sender."""
    try:
        return _parse(raw, envelope_from)
    except (IndexError, ValueError, TypeError, AttributeError, MessageError):
        sender = (envelope_from or "unknown@invalid").lower()
        return ParsedEmail(
            message_id="sha256-" + hashlib.sha256(raw).hexdigest() + "@crocevia",
            sender=Sender(external_id=sender, email=sender if "@" in sender else None),
            subject=None, text=UNREADABLE, quoted="", full_text="", thread_ids=(), sent_at=None,
            automated=None, recipients=(),
        )  # fmt: skip


def _parse(raw: bytes, envelope_from: str | None) -> ParsedEmail:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    ids = message_ids(str(msg.get("Message-ID", "")))
    message_id = ids[0] if ids else "sha256-" + hashlib.sha256(raw).hexdigest() + "@crocevia"
    thread: list[str] = []
    for value in (msg.get("References"), msg.get("In-Reply-To")):
        for i in message_ids(str(value or "")):
            if i not in thread and i != message_id:
                thread.append(i)
    automated = automated_reason(msg, envelope_from)
    if automated == "bounce":
        thread += [i for i in _original_ids(msg) if i not in thread]
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        full = ""
    elif body.get_content_type() == "text/html":
        full = html_to_text(decode_text(body))
    else:
        full = decode_text(body).strip()
    subject = " ".join(str(msg.get("Subject", "")).split())[:500] or None
    reply = split_reply(full, subject=subject)
    addr, name = _address(msg.get("From"))
    if not addr and envelope_from:
        addr = envelope_from.lower()
    recipients = tuple(
        a.addr_spec.lower()
        for header in ("To", "Cc", "Delivered-To")
        for a in getattr(msg.get(header), "addresses", ())
    )
    return ParsedEmail(
        message_id=message_id,
        sender=Sender(external_id=addr or "unknown@invalid", name=name, email=addr or None),
        subject=subject,
        text=reply.visible,
        quoted=reply.quoted,
        full_text=full,
        thread_ids=tuple(thread),
        sent_at=_sent_at(msg),
        automated=automated,
        recipients=recipients,
        parts=_parts(msg, body),
    )
