"""The data model: SQLAlchemy 2 typed mappings, portable between SQLite and PostgreSQL.

Timestamps are timezone-aware UTC (`UtcDateTime` stores them naive-UTC on SQLite,
which has no time zones, and hands them back aware).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from inbox.types import utcnow as utcnow  # re-exported: the model's timestamps
from inbox.unique_keys import unique_key


def _insert_key() -> str:
    return unique_key()


def insert_sentinel() -> Mapped[str]:
    """A client-generated unique value that lets SQLAlchemy insert many rows in one
    statement and still match each RETURNING id to its row (SQLite does not promise
    the order of RETURNING rows). Without it, a batch of N messages is N INSERTs."""
    return mapped_column(String(32), default=_insert_key, insert_sentinel=True)


class UtcDateTime(TypeDecorator[datetime]):
    """A DateTime that always comes back timezone-aware in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"expected a timezone-aware datetime, got naive {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON}


class Role(enum.StrEnum):
    AGENT = "agent"
    LEAD = "lead"
    ADMIN = "admin"
    MARKETING = "marketing"


class Presence(enum.StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"
    NOTE = "note"


class Priority(enum.StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


agent_teams = Table(
    "agent_teams",
    Base.metadata,
    Column("agent_id", ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
)


class RoutingPolicy(enum.StrEnum):
    MANUAL = "manual"
    ROUND_ROBIN = "round_robin"
    LEAST_BUSY = "least_busy"


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    routing_policy: Mapped[str] = mapped_column(
        String(20), default=RoutingPolicy.MANUAL.value, server_default="manual"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.AGENT.value)
    language: Mapped[str] = mapped_column(String(8), default="it")
    languages: Mapped[str] = mapped_column(String(64), default="it,en")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Rome")
    capacity: Mapped[int] = mapped_column(default=5)
    presence: Mapped[str] = mapped_column(String(10), default=Presence.OFFLINE.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Round-robin takes the eligible agent who was given a conversation longest ago.
    last_assigned_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    teams: Mapped[list[Team]] = relationship(secondary=agent_teams, lazy="selectin")


class AgentSession(Base):
    """A login. The token itself is never stored, only its SHA-256."""

    __tablename__ = "agent_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Inbox(Base):
    """One channel account (a website, a bot, a mailbox) and its settings."""

    __tablename__ = "inboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    website_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Secret for the widget's identity HMAC (setUser); generated per inbox, shown to admins.
    hmac_secret: Mapped[str | None] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Rome")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set by an admin: the inbox takes no new messages (widget, webhooks, pollers).
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    """The customer record: one person across every channel."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    insert_key: Mapped[str] = insert_sentinel()
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    #: False: typed in the chat widget by a visitor nobody vouched for, so it proves nothing
    #: and never makes a merge suggestion; True: it came by email, an agent set it, or the
    #: shop's signed setUser gave it; None: from before this was recorded.
    email_verified: Mapped[bool | None]
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="lead")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    #: Set when the contact's personal data was erased (GDPR art. 17); aggregates remain.
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Identity(Base):
    """How a platform knows a contact: (channel, external id) -> contact."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    insert_key: Mapped[str] = insert_sentinel()
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(255))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    handle: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    avatar_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


OPEN_STATUSES = ("open", "pending", "snoozed")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # At most one open chat conversation per contact and inbox, enforced by the
        # database so that two racing first messages cannot open two.
        Index(
            "uq_open_chat_conversation",
            "inbox_id",
            "contact_id",
            unique=True,
            sqlite_where=text("status != 'resolved' AND threaded = 0"),
            postgresql_where=text("status != 'resolved' AND threaded = false"),
        ),
        Index("ix_conversations_status_team", "status", "team_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    insert_key: Mapped[str] = insert_sentinel()
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="open")
    threaded: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str | None] = mapped_column(String(500))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    priority: Mapped[str] = mapped_column(String(10), default=Priority.NORMAL.value)
    waiting_since: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    #: Lower-case label names (see inbox.labels); filtered with a LIKE on the JSON text.
    labels: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    #: The customer's language (from their first message), for routing and auto-replies.
    language: Mapped[str | None] = mapped_column(String(8))
    csat_requested_at: Mapped[datetime | None]
    #: The platform id of whoever wrote last (a Telegram chat, a WhatsApp number): replies go
    #: there even when the contact has several identities on the channel.
    reply_to_external_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeliveryStatus(enum.StrEnum):
    RECEIVED = "received"
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("inbox_id", "external_id", name="uq_message_external"),
        UniqueConstraint("inbox_id", "client_key", name="uq_message_client"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    insert_key: Mapped[str] = insert_sentinel()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    direction: Mapped[str] = mapped_column(String(6))
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    author_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    external_id: Mapped[str | None] = mapped_column(String(255))
    client_key: Mapped[str | None] = mapped_column(String(255))
    client_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(default=0)
    language: Mapped[str | None] = mapped_column(String(8))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    platform_sent_at: Mapped[datetime | None]
    edited_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Set when a message and its new conversation are inserted together; never lazy-loaded.
    conversation: Mapped[Conversation] = relationship(lazy="raise_on_sql")


class Outbox(Base):
    """Events written in the same transaction as the change they describe.

    The relay publishes them to Redis (`stream`: events or outbound) and marks them.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "published_at", "id"),
        Index("ix_outbox_unhooked", "hooked_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    insert_key: Mapped[str] = insert_sentinel()
    stream: Mapped[str] = mapped_column(String(20), default="events")
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    #: When the event webhooks looked at it (inbox/webhook_queue.py); None: not yet.
    hooked_at: Mapped[datetime | None]


class WebhookSubscription(Base):
    """An admin's outbound webhook: the events named (all when `events` is empty) are
    POSTed to `url`, signed with `secret` (gateway/event_webhooks.py)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: It takes the events that happen from then on (made, or switched on again).
    since: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one subscription: the queue and the delivery log. The body is kept
    byte for byte, so every retry sends and signs the same thing."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "outbox_id", name="uq_webhook_delivery"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    outbox_id: Mapped[int] = mapped_column(BigId)
    #: Whose data the event carries, so that an erasure deletes it (inbox/privacy.py).
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # sent, failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class LabelDefinition(Base):
    """A label of the team's catalogue: its colour and what it means. Conversations carry
    label names (inbox/labels.py); the catalogue is what the console offers and colours."""

    __tablename__ = "label_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    colour: Mapped[str] = mapped_column(String(7), default="#64748b")
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CannedResponse(Base):
    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    short_code: Mapped[str] = mapped_column(String(60), unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactNote(Base):
    """What the team writes down about a customer, beside every conversation with them."""

    __tablename__ = "contact_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    author_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mention(Base):
    """An agent named with @ in a colleague's private note; read once they open it."""

    __tablename__ = "mentions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    author_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class ReadMarker(Base):
    """How far an agent has read a conversation (for unread counts)."""

    __tablename__ = "read_markers"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    last_read_message_id: Mapped[int] = mapped_column(BigId, default=0)


class ChannelCursor(Base):
    """Where a polling connector stopped (Telegram update offset, IMAP UIDVALIDITY and
    last UID, X since ids), so a restart neither misses nor repeats."""

    __tablename__ = "channel_cursors"

    inbox_id: Mapped[int] = mapped_column(
        ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StoredFile(Base):
    """An attachment's bytes live in the data folder under their SHA-256; this is its record."""

    __tablename__ = "stored_files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, unguessable
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaBreach(Base):
    """A response target missed: recorded once per wait (the `due_at` it missed)."""

    __tablename__ = "sla_breaches"
    __table_args__ = (UniqueConstraint("conversation_id", "kind", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # first_response | next_response
    due_at: Mapped[datetime]
    breached_at: Mapped[datetime] = mapped_column(default=utcnow)


class CsatResponse(Base):
    """A customer's 1-5 rating of a resolved conversation, with an optional comment."""

    __tablename__ = "csat_responses"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who did what to which record: admin actions, merges, exports, erasures."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target_type: Mapped[str] = mapped_column(String(30))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Segment(Base):
    """A saved rule over contacts' signals, e.g. negative on Telegram in the last 30 days."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LifecycleChange(Base):
    """A contact moving along lead → prospect → customer (→ churned), and who moved it."""

    __tablename__ = "lifecycle_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))  # agent | site | rule
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactMerge(Base):
    """Two contacts made one: what moved, so that the merge can be undone within a day."""

    __tablename__ = "contact_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kept_contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    merged_contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_by_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]


class CrmDelivery(Base):
    """A contact's changed signals, queued for the CRM webhook (gateway/crm_webhook.py).

    The body is kept byte for byte, so every retry sends and signs the same thing; rows
    are the queue, so a restart loses nothing."""

    __tablename__ = "crm_deliveries"
    __table_args__ = (Index("ix_crm_deliveries_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    #: Set when the CRM refused it for good (a 4xx) or the attempts ran out.
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrmContactState(Base):
    """What the CRM was last sent for a contact (a hash of the signals), so that only
    real changes are pushed."""

    __tablename__ = "crm_contact_state"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    signals_hash: Mapped[str] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignalCursor(Base):
    """How far the CRM push has read a table of changes (gateway/crm_webhook.py)."""

    __tablename__ = "signal_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
