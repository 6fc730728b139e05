"""Push contacts' changed signals to a CRM over a signed webhook, with retries.

Configuration: CROCEVIA_CRM_WEBHOOK_URL and CROCEVIA_CRM_WEBHOOK_SECRET (or
CROCEVIA_CRM_WEBHOOK_SECRET_FILE); without a URL nothing is pushed.

Each request is a POST of JSON `{"contact_id": 7, "signals": {...}, "changed_at": "..."}`
(signals as in inbox/signals.py) with the headers
`X-Crocevia-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>` and
`X-Crocevia-Delivery: <delivery id>` (the same on every retry: use it to drop repeats).

Two steps, both safe to run in several processes:
- `push_changes` reads what changed since its cursors (new messages, lifecycle changes,
  CSAT answers, conversations and contacts updated: labels, attributes), recomputes those
  contacts' signals, and queues a delivery for each contact whose signals differ from what
  was last queued for it. Queue, cursors and per-contact hashes are rows written in the
  caller's transaction, so a crash or restart loses nothing and repeats nothing.
- `deliver_due` sends queued deliveries in order; a 5xx, 408, 429, timeout or connection
  error is retried with exponential backoff (2 s, 4 s, 8 s, ... up to an hour, 10 tries);
  another 4xx fails the delivery for good. A newer delivery for a contact replaces an
  older one still waiting (it carries the whole, newer state).

Signals that drift with time alone (the 30-day average as old messages leave its window)
are pushed with the contact's next change, not the moment they drift.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.settings import _optional_secret
from inbox import signals
from inbox.model import (
    Contact,
    Conversation,
    CrmContactState,
    CrmDelivery,
    CsatResponse,
    LifecycleChange,
    Message,
    SignalCursor,
)
from inbox.serialize import iso

log = logging.getLogger("crocevia.crm")

LOCK_KEY = "crocevia:crm:push-lock"
LOCK_MS = 5000
BATCH = 1000  # rows read per source and push
SETTLE = timedelta(seconds=5)  # rows younger than this may still have company committing
LEASE = timedelta(seconds=120)  # a claimed delivery is someone's for this long
KEEP_DELIVERED = timedelta(days=7)
RETRYABLE = {408, 425, 429}


@dataclass(frozen=True, slots=True)
class CrmConfig:
    url: str
    secret: str
    timeout_s: float = 10.0
    max_attempts: int = 10
    base_backoff_s: float = 2.0
    max_backoff_s: float = 3600.0

    @classmethod
    def from_env(cls) -> CrmConfig | None:
        url = os.environ.get("CROCEVIA_CRM_WEBHOOK_URL")
        if not url:
            return None
        secret = _optional_secret("CROCEVIA_CRM_WEBHOOK_SECRET")
        if not secret:
            raise RuntimeError("CROCEVIA_CRM_WEBHOOK_URL needs CROCEVIA_CRM_WEBHOOK_SECRET(_FILE)")
        return cls(url, secret)

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.base_backoff_s * 2 ** (attempts - 1), self.max_backoff_s))


def sign(secret: str, body: bytes) -> str:
    """The X-Crocevia-Signature value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body).encode(), header.encode("utf-8", "replace"))


# ---- finding changes --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    """A table of changes read in (time, id) order, or in id order when `by_id`."""

    name: str
    time: Any
    key: Any
    contact: Any
    join: tuple[Any, Any] | None
    by_id: bool


SOURCES = (
    _Source("messages", Message.created_at, Message.id, Conversation.contact_id,
            (Conversation, Conversation.id == Message.conversation_id), True),
    _Source("lifecycle", LifecycleChange.at, LifecycleChange.id, LifecycleChange.contact_id,
            None, True),
    _Source("csat", CsatResponse.created_at, CsatResponse.conversation_id,
            Conversation.contact_id,
            (Conversation, Conversation.id == CsatResponse.conversation_id), False),
    _Source("conversations", Conversation.updated_at, Conversation.id, Conversation.contact_id,
            None, False),
    _Source("contacts", Contact.updated_at, Contact.id, Contact.id, None, False),
)  # fmt: skip


async def _read(
    session: AsyncSession, source: _Source, state: dict[str, Any], cutoff: datetime
) -> tuple[set[int], dict[str, Any]]:
    """Contacts touched by the source's next rows, and the cursor past them."""
    q = select(source.time, source.key, source.contact)
    if source.join is not None:
        q = q.join(*source.join)
    last_id = int(state.get("id", 0))
    if source.by_id:
        q = q.where(source.key > last_id).order_by(source.key)
    else:
        after: ColumnElement[bool] = source.time <= cutoff
        if "t" in state:
            t = datetime.fromisoformat(state["t"])
            after = and_(after, or_(source.time > t, and_(source.time == t, source.key > last_id)))
        q = q.where(after).order_by(source.time, source.key)
    contacts: set[int] = set()
    new_state = dict(state)
    for when, key, contact_id in await session.execute(q.limit(BATCH)):
        if when > cutoff:  # not settled yet: read it next time
            break
        contacts.add(int(contact_id))
        new_state = {"id": int(key)} if source.by_id else {"t": iso(when), "id": int(key)}
    return contacts, new_state


def _hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


async def push_changes(session: AsyncSession, redis: Redis, now: datetime) -> int:
    """Queue a delivery for every contact whose signals changed since the last push; returns
    how many were queued. Runs in the caller's transaction (commit it); several processes
    may call it: a short Redis lock lets one of them read the changes at a time."""
    if not await redis.set(LOCK_KEY, "1", nx=True, px=LOCK_MS):
        return 0
    cutoff = now - SETTLE
    cursors = {c.name: c for c in (await session.execute(select(SignalCursor))).scalars()}
    touched: set[int] = set()
    for source in SOURCES:
        row = cursors.get(source.name) or SignalCursor(name=source.name, state={})
        contacts, state = await _read(session, source, row.state or {}, cutoff)
        touched |= contacts
        if state != row.state or source.name not in cursors:
            row.state = state
            row.updated_at = now
            session.add(row)
    queued = await _queue(session, sorted(touched), now)
    await session.execute(
        delete(CrmDelivery).where(CrmDelivery.delivered_at < now - KEEP_DELIVERED)
    )
    return queued


async def _queue(session: AsyncSession, contact_ids: Sequence[int], now: datetime) -> int:
    if not contact_ids:
        return 0
    queued = 0
    for values in await signals.for_contacts(session, contact_ids, now):
        body = values.as_dict()
        contact_id = body.pop("contact_id")
        digest = _hash(body)
        state = await session.get(CrmContactState, contact_id)
        if state is not None and state.signals_hash == digest:
            continue
        if state is None:
            session.add(CrmContactState(contact_id=contact_id, signals_hash=digest, queued_at=now))
        else:
            state.signals_hash, state.queued_at = digest, now
        # The newest state replaces any older one still waiting for this contact.
        await session.execute(
            delete(CrmDelivery).where(
                CrmDelivery.contact_id == contact_id,
                CrmDelivery.delivered_at.is_(None),
                CrmDelivery.failed_at.is_(None),
            )
        )
        payload = {"contact_id": contact_id, "signals": body, "changed_at": iso(now)}
        session.add(
            CrmDelivery(contact_id=contact_id, body=json.dumps(payload, separators=(",", ":")),
                        attempts=0, next_attempt_at=now, created_at=now)
        )  # fmt: skip
        queued += 1
    return queued


# ---- delivering -------------------------------------------------------------------------


async def _claim(
    sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int
) -> list[CrmDelivery]:
    """Due deliveries, each leased to us by moving its next attempt past the lease."""
    claimed: list[CrmDelivery] = []
    async with sessions() as session, session.begin():
        due = (
            await session.execute(
                select(CrmDelivery)
                .where(
                    CrmDelivery.delivered_at.is_(None),
                    CrmDelivery.failed_at.is_(None),
                    CrmDelivery.next_attempt_at <= now,
                )
                .order_by(CrmDelivery.id)
                .limit(limit)
            )
        ).scalars()
        for d in list(due):
            won = await session.execute(
                update(CrmDelivery)
                .where(CrmDelivery.id == d.id, CrmDelivery.next_attempt_at == d.next_attempt_at)
                .values(next_attempt_at=now + LEASE)
            )
            if won.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(d)
    return claimed


async def _send(
    http: httpx.AsyncClient, config: CrmConfig, d: CrmDelivery
) -> tuple[bool, str | None, float]:
    """(delivered, error or None, seconds the server asked us to wait)."""
    body = d.body.encode()
    headers = {
        "Content-Type": "application/json",
        "X-Crocevia-Signature": sign(config.secret, body),
        "X-Crocevia-Delivery": str(d.id),
        "User-Agent": "Crocevia-CRM-Webhook/1",
    }
    try:
        r = await http.post(config.url, content=body, headers=headers, timeout=config.timeout_s)
    except httpx.TimeoutException:
        return False, "timeout", 0.0
    except httpx.TransportError as exc:
        return False, f"connection: {type(exc).__name__}", 0.0
    if 200 <= r.status_code < 300:
        return True, None, 0.0
    wait = r.headers.get("Retry-After", "")
    return False, f"HTTP {r.status_code}", float(wait) if wait.isdigit() else 0.0


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient, config: CrmConfig,
    now: datetime, *, limit: int = 100,
) -> int:  # fmt: skip
    """Send the deliveries due at `now`; returns how many the CRM accepted."""
    delivered = 0
    for d in await _claim(sessions, now, limit):
        ok, error, wait = await _send(http, config, d)
        values: dict[str, Any] = {"attempts": d.attempts + 1, "last_error": error}
        if ok:
            values["delivered_at"] = now
            delivered += 1
        elif error is not None and _retryable(error) and d.attempts + 1 < config.max_attempts:
            delay = max(config.backoff(d.attempts + 1), timedelta(seconds=wait))
            values["next_attempt_at"] = now + delay
        else:
            values["failed_at"] = now
        if not ok:
            log.warning("crm_delivery_failed", extra={"delivery": d.id, "error": error,
                                                      "attempt": d.attempts + 1})  # fmt: skip
        async with sessions() as session, session.begin():
            await session.execute(
                update(CrmDelivery).where(CrmDelivery.id == d.id).values(**values)
            )
    return delivered


def _retryable(error: str) -> bool:
    if not error.startswith("HTTP "):
        return True  # timeouts and connection errors
    status = int(error.removeprefix("HTTP "))
    return status >= 500 or status in RETRYABLE


class CrmPusher:
    """What the router runs: every `interval_s`, queue changes, then deliver what is due."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], redis: Redis, config: CrmConfig,
        *, interval_s: float = 15.0,
    ) -> None:  # fmt: skip
        self.sessions = sessions
        self.redis = redis
        self.config = config
        self.interval = timedelta(seconds=interval_s)
        self.http = httpx.AsyncClient(follow_redirects=False)
        self._last: datetime | None = None

    @classmethod
    def from_env(cls, sessions: async_sessionmaker[AsyncSession], redis: Redis) -> CrmPusher | None:
        config = CrmConfig.from_env()
        return None if config is None else cls(sessions, redis, config)

    async def tick(self, now: datetime) -> int:
        """Push changes if the interval passed, deliver what is due; returns deliveries made."""
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            async with self.sessions() as session, session.begin():
                await push_changes(session, self.redis, now)
        return await deliver_due(self.sessions, self.http, self.config, now)

    async def aclose(self) -> None:
        await self.http.aclose()
