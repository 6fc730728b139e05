"""Plain data that crosses the line between connectors and the inbox.

Connectors turn a platform's payload into `InboundMessage`s and send
`OutboundMessage`s, answering with a `SentReceipt`. They know nothing of
storage or routing; the inbox knows nothing of platforms.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable


def utcnow() -> datetime:
    return datetime.now(UTC)


class Channel(enum.StrEnum):
    WEBSITE = "website"
    TELEGRAM = "telegram"
    EMAIL = "email"
    X = "x"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"
    API = "api"  # a business's own app (connectors/api.py)


class InboxRecord(Protocol):
    """What a connector reads of its inbox (inbox.model.Inbox is one)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def settings(self) -> dict[str, Any] | None: ...


def safe_link(url: str | None) -> str | None:
    """`url` if a browser may open it as a link or image: one of our own files
    (`/api/files/...`) or an absolute http(s) URL; None for anything else
    (`javascript:`, `data:`, protocol-relative `//host`), which a platform's payload
    must never carry into the console (stored XSS)."""
    if not url or len(url) > 2000 or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    if url.startswith("/api/files/") or url.lower().startswith(("https://", "http://")):
        return url
    return None


#: Channels where a contact has at most one open conversation per inbox.
#: Email is the exception: each thread is its own conversation.
CHAT_CHANNELS = frozenset(c for c in Channel if c is not Channel.EMAIL)

#: Conversation subjects the X connector sets from the kind of the latest message
#: (inbox/reply_window.py reads them: a public post is answered publicly).
X_PUBLIC_SUBJECT = "Public post on X: replies are public"
X_DM_SUBJECT = "Direct message on X"


_SENDER_LIMITS = {"name": 200, "handle": 200, "email": 320, "phone": 32, "avatar_url": 1000}


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote, as the platform knows them."""

    external_id: str
    name: str | None = None
    handle: str | None = None
    email: str | None = None
    phone: str | None = None
    avatar_url: str | None = None

    def __post_init__(self) -> None:
        """A platform's payload may carry anything: what is not text is dropped and text is
        cut to what the contact's columns hold, so a strange profile never fails a store."""
        object.__setattr__(self, "external_id", str(self.external_id)[:255])
        for name, limit in _SENDER_LIMITS.items():
            value = getattr(self, name)
            object.__setattr__(self, name, value[:limit] if isinstance(value, str) else None)


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # image, file, audio, video, location, contact, sticker
    url: str | None = None
    name: str | None = None
    content_type: str | None = None
    size: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: The bytes of one of our stored files, read by the inbox for a reply's send (never
    #: stored in the message, never serialized).
    content: bytes | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": safe_link(self.url),
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "data": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a customer sent, whatever the channel."""

    channel: Channel
    inbox_id: int
    external_id: str
    sender: Sender
    text: str
    sent_at: datetime | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None
    thread_ids: tuple[str, ...] = ()  # email Message-ID / References, oldest first
    subject: str | None = None
    edited: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One reply to deliver through a connector."""

    message_id: int
    conversation_id: int
    inbox_id: int
    channel: Channel
    recipient_external_id: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    reply_to_external_id: str | None = None
    thread_ids: tuple[str, ...] = ()
    subject: str | None = None
    recipient_email: str | None = None
    reply_to_address: str | None = None  # email: where the customer's answer should go
    #: The platform id of the customer's latest message (X answers a public post publicly).
    last_inbound_external_id: str | None = None
    #: No agent wrote it (an automatic message: greeting, away, CSAT).
    automatic: bool = False
    #: Why the customer's latest message was machine-written (an auto-reply, a bounce),
    #: or None: an automatic message never answers a robot.
    answers_robot: str | None = None
    #: The approved template the agent named with `/template` (WhatsApp).
    template: Template | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A WhatsApp message template named by the agent's `/template` command."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A file a connector fetched from its platform, for the inbox to store."""

    data: bytes
    name: str


@dataclass(frozen=True, slots=True)
class SentReceipt:
    external_id: str
    sent_at: datetime | None = None


class DeliveryError(Exception):
    """A send that failed. `retryable` failures are tried again with backoff."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


# -- optional steps of a connector before its messages are stored (inbox/preparation.py) --


@runtime_checkable
class LooksUpSenders(Protocol):
    """The platform's messages name the sender by id only (Messenger, Instagram): the
    inbox asks for the profiles of senders it has never seen (inbox/preparation.py)."""

    async def profiles(self, external_ids: Sequence[str]) -> dict[str, Sender]:
        """The profiles found, by external id; one that fails is left out."""


@runtime_checkable
class DownloadsFiles(Protocol):
    """Files arrive as references to the platform's own (Telegram file ids, WhatsApp media
    ids): the inbox asks for the bytes of a new message's files and stores them."""

    def waiting_download(self, attachment: Attachment) -> bool:
        """Whether `attachment` is a reference this connector can download."""

    async def download(self, attachments: Sequence[Attachment]) -> list[Downloaded | Attachment]:
        """One answer per attachment: its bytes, or the attachment kept as a reference
        with `data["error"]` saying why (too big, gone, refused); raise on a failure worth
        a retry (network, rate limit), so that the platform delivers again."""


@runtime_checkable
class LinksContacts(Protocol):
    """A message can ask to be linked to a contact we know (Telegram's signed `/start`
    payload): the inbox then points the sender's identity at that contact."""

    def linked_contact(self, item: InboundMessage, secret_key: str) -> int | None:
        """The contact `item` asks to be linked to, when its proof is good; else None."""
