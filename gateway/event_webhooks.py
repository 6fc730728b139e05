"""Outbound webhooks: every event an admin subscribed to is POSTed to their URL, signed,
retried, and logged (settings: `/api/admin/webhooks`, docs/settings.md).

Runs in the worker processes, in two steps that any number of workers may run at once:
- `take_events` reads the event stream as the consumer group `webhooks` (each event is
  handed to one worker) and queues a delivery row per matching subscription (unique per
  subscription and event id, so a repeat queues nothing), then acknowledges the entries.
- `send_due` POSTs the deliveries that are due. The body is
  `{"id": "<event id>", "event": "message.created", "data": {...}, "sent_at": "..."}` with
  `X-Crocevia-Event`, `X-Crocevia-Delivery` (the same on every retry),
  `X-Crocevia-Timestamp` and `X-Crocevia-Signature: sha256=<hex HMAC-SHA256 of
  "<timestamp>.<body>" with the subscription's secret>`. A 2xx is done; anything else is
  retried after 1, 2, 4 … × `CROCEVIA_WEBHOOK_RETRY_S` seconds (capped at an hour), and
  after 8 tries the delivery is `failed`. Every try is in the log.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from datetime import timedelta
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.events import EVENTS_STREAM
from inbox.model import WebhookDelivery, WebhookSubscription, utcnow
from inbox.stream_read import read_reply, text_of

log = logging.getLogger("crocevia.webhooks")

GROUP = "webhooks"
MAX_TRIES = 8
RETRY_S = float(os.environ.get("CROCEVIA_WEBHOOK_RETRY_S", "30"))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _wanted(sub: WebhookSubscription, event: str) -> bool:
    return sub.active and (not sub.events or event in sub.events)


class EventWebhooks:
    def __init__(self, redis: Redis, sessions: async_sessionmaker[AsyncSession],
                 consumer: str) -> None:  # fmt: skip
        self.redis = redis
        self.sessions = sessions
        self.consumer = consumer
        self.http = httpx.AsyncClient(timeout=10.0, follow_redirects=False, trust_env=False)

    async def run(self, interval: float = 1.0) -> None:
        await self._ensure_group()
        while True:
            try:
                await self.take_events()
                await self.send_due()
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self._ensure_group()  # Redis restarted without its data
                else:
                    log.warning("webhooks_pass_failed", extra={"error": repr(exc)})
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("webhooks_pass_failed", extra={"error": repr(exc)})
            await asyncio.sleep(interval)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _ensure_group(self) -> None:
        try:  # from now on: a new subscription gets what happens after it, not history
            await self.redis.xgroup_create(EVENTS_STREAM, GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def take_events(self) -> int:
        reply = await self.redis.xreadgroup(
            GROUP, self.consumer, {EVENTS_STREAM: ">"}, count=200, block=None
        )
        entries = read_reply(reply)
        if not entries:
            return 0
        async with self.sessions() as session, session.begin():
            subs = list((await session.execute(select(WebhookSubscription))).scalars())
            rows = []
            for _entry_id, fields in entries:
                event = text_of(fields.get(b"event", fields.get("event", b"")))
                eid = text_of(fields.get(b"eid", fields.get("eid", b"")))
                raw = fields.get(b"data", fields.get("data", b"{}"))
                for sub in subs:
                    if event and eid and _wanted(sub, event):
                        rows.append({"subscription_id": sub.id, "event": event, "event_id": eid,
                                     "payload": json.loads(raw), "status": "pending",
                                     "attempts": 0, "next_attempt_at": utcnow(),
                                     "created_at": utcnow()})  # fmt: skip
            if rows:
                dialect = session.get_bind().dialect.name
                insert = pg_insert if dialect == "postgresql" else sqlite_insert
                await session.execute(insert(WebhookDelivery).values(rows).on_conflict_do_nothing())
        await self.redis.xack(EVENTS_STREAM, GROUP, *[entry_id for entry_id, _ in entries])
        return len(entries)

    async def send_due(self, limit: int = 50) -> int:
        async with self.sessions() as session:
            due = list(
                (
                    await session.execute(
                        select(WebhookDelivery, WebhookSubscription)
                        .join(
                            WebhookSubscription,
                            WebhookSubscription.id == WebhookDelivery.subscription_id,
                        )
                        .where(
                            WebhookDelivery.status == "pending",
                            WebhookDelivery.next_attempt_at <= utcnow(),
                        )
                        .order_by(WebhookDelivery.id)
                        .limit(limit)
                    )  # fmt: skip
                ).tuples()
            )
        sent = 0
        for delivery, sub in due:
            if await self._claim(delivery):
                await self._send(delivery, sub)
                sent += 1
        return sent

    async def _claim(self, delivery: WebhookDelivery) -> bool:
        """Take the delivery for a minute, unless another worker took it first."""
        async with self.sessions() as session, session.begin():
            taken = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == "pending",
                       WebhookDelivery.next_attempt_at == delivery.next_attempt_at)
                .values(next_attempt_at=utcnow() + timedelta(seconds=60))
            )  # fmt: skip
        return bool(getattr(taken, "rowcount", 0) == 1)

    async def _send(self, delivery: WebhookDelivery, sub: WebhookSubscription) -> None:
        body = json.dumps({"id": delivery.event_id, "event": delivery.event,
                           "data": delivery.payload, "sent_at": utcnow().isoformat()},
                          separators=(",", ":")).encode()  # fmt: skip
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Crocevia-Event": delivery.event,
                   "X-Crocevia-Delivery": str(delivery.id), "X-Crocevia-Timestamp": stamp,
                   "X-Crocevia-Signature": signature(sub.secret, stamp, body)}  # fmt: skip
        code: int | None = None
        error: str | None = None
        try:
            answer = await self.http.post(sub.url, content=body, headers=headers)
            code = answer.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        async with self.sessions() as session, session.begin():
            row = await session.get(WebhookDelivery, delivery.id, with_for_update=True)
            if row is None or row.status != "pending":
                return
            row.attempts += 1
            row.last_code, row.last_error = code, error
            if error is None:
                row.status, row.delivered_at = "sent", utcnow()
            elif row.attempts >= MAX_TRIES:
                row.status = "failed"
                log.warning("webhook_failed", extra={"delivery": row.id, "error": error})
            else:
                wait = min(RETRY_S * 2 ** (row.attempts - 1), 3600.0)
                row.next_attempt_at = utcnow() + timedelta(seconds=wait)


def delivery_dict(d: WebhookDelivery) -> dict[str, Any]:
    return {"id": d.id, "event": d.event, "event_id": d.event_id, "status": d.status,
            "attempts": d.attempts, "last_code": d.last_code, "last_error": d.last_error,
            "created_at": d.created_at.isoformat(),
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None}  # fmt: skip
