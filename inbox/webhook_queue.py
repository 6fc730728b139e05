"""Which committed events go to which outbound webhook: the delivery queue.

Every event is an outbox row, written in the transaction of the change it describes
(inbox/events.py). `queue_new_events` reads the rows the webhooks have not looked at yet
(`hooked_at` is null), in id order, and queues one delivery per active subscription that
wants the event and existed when it happened; then it marks the rows. With no active
subscription it reads nothing more and writes nothing. Queue and marks
are written in the caller's transaction, so a crash repeats nothing and loses nothing,
and a Redis outage does not stop webhooks. Several processes may run it at once: on
PostgreSQL they skip each other's locked rows; the unique (subscription, event) key
keeps a repeat from queueing twice anywhere.

The body is fixed when queued, byte for byte: `{"id": "<event id>", "event": "...",
"created_at": "...", "data": {...}}`, `data` being the event as agents' sockets receive
it. gateway/event_webhooks.py sends it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.model import Contact, Outbox, WebhookDelivery, WebhookSubscription
from inbox.serialize import iso

BATCH = 500
KEEP_SENT = timedelta(days=7)
KEEP_FAILED = timedelta(days=30)
EVENT_NAME = re.compile(r"[a-z_]{1,20}\.[a-z_]{1,19}")


def wants(sub: WebhookSubscription, event: str, at: datetime) -> bool:
    return sub.active and sub.since <= at and (not sub.events or event in sub.events)


def _contact_of(payload: dict[str, Any]) -> int | None:
    conv = payload.get("conversation") or {}
    contact = conv.get("contact") or payload.get("contact") or {}
    value = contact.get("id") if isinstance(contact, dict) else None
    return value if isinstance(value, int) else None


def _known(payload: dict[str, Any], known: set[int]) -> int | None:
    contact = _contact_of(payload)
    return contact if contact in known else None


def body_of(row: Outbox) -> str:
    return json.dumps(
        {"id": str(row.id), "event": row.event, "created_at": iso(row.created_at),
         "data": row.payload},
        separators=(",", ":"), ensure_ascii=False,
    )  # fmt: skip


async def queue_new_events(session: AsyncSession, now: datetime) -> int:
    """Queue the deliveries of events not looked at yet (up to BATCH of them) and mark
    those events; returns how many events were looked at."""
    subs = list(
        (
            await session.execute(
                select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
            )
        ).scalars()
    )
    if not subs:
        # Nothing to queue, and nothing written: with no webhook configured (the common
        # case) this costs one read. Rows left unmarked are older than any subscription
        # made later, so they are marked then without being queued (or pruned first).
        return 0
    unseen = (Outbox.hooked_at.is_(None), Outbox.stream == "events")
    postgres = session.get_bind().dialect.name == "postgresql"
    q = select(Outbox).where(*unseen).order_by(Outbox.id).limit(BATCH)
    if postgres:
        q = q.with_for_update(skip_locked=True)
    rows = list((await session.execute(q)).scalars())
    if not rows:
        return 0
    named = {c for c in (_contact_of(row.payload) for row in rows) if c is not None}
    known = set((await session.execute(select(Contact.id).where(Contact.id.in_(named)))).scalars())
    queued = [
        {"subscription_id": sub.id, "outbox_id": row.id, "contact_id": _known(row.payload, known),
         "event": row.event, "body": body_of(row), "status": "pending", "attempts": 0,
         "next_attempt_at": now, "created_at": now}
        for row in rows
        for sub in subs
        if wants(sub, row.event, row.created_at)
    ]  # fmt: skip
    if queued:
        insert = pg_insert if postgres else sqlite_insert
        await session.execute(insert(WebhookDelivery).on_conflict_do_nothing(), queued)
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_([row.id for row in rows]))
        .values(hooked_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(rows)


async def prune(session: AsyncSession, now: datetime) -> None:
    """The log keeps sent deliveries a week and failed ones a month."""
    await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status == "sent", WebhookDelivery.created_at < now - KEEP_SENT
        )
    )
    await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status == "failed", WebhookDelivery.created_at < now - KEEP_FAILED
        )
    )
