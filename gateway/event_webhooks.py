"""Outbound event webhooks: the events an admin subscribed to are POSTed to their URL,
signed, retried, and logged (settings: `/api/admin/webhooks`, docs/settings.md).

The worker processes run `EventWebhooks.run`: after every burst of events (and at least
every second) it queues the new events' deliveries (inbox/webhook_queue.py, in the
database, so nothing depends on Redis keeping anything) and sends those due. Any number
of workers may run it: a delivery is leased to one of them before it is sent.

Each POST carries the queued body `{"id", "event", "created_at", "data"}` and the headers
`X-Crocevia-Event`, `X-Crocevia-Delivery` (the same on every retry: drop repeats by it),
`X-Crocevia-Timestamp` and `X-Crocevia-Signature` (connectors/signed_post.py: an HMAC-SHA256
of "<timestamp>.<raw body>" with the subscription's secret). A 2xx answer is
done. Anything else (and a timeout or refused connection) is tried again after
1, 2, 4, ... × CROCEVIA_WEBHOOK_RETRY_S seconds (default 30, at most an hour; a
Retry-After is honoured), 8 tries in all; then the delivery is `failed` and an admin may
send it again. An endpoint that fails gets no more tries in the same pass, and deliveries
to one URL go one at a time, in the order the events happened.

Only public addresses are reached, unless CROCEVIA_WEBHOOKS_ALLOW_PRIVATE=1
(connectors/signed_post.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from datetime import datetime, timedelta

import httpx
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors import signed_post
from connectors.safe_fetch import FetchFailed, UnsafeURL
from inbox import webhook_queue
from inbox.event_passes import pass_on_events
from inbox.events import EVENTS_STREAM
from inbox.model import WebhookDelivery, WebhookSubscription, utcnow

log = logging.getLogger("crocevia.event_webhooks")

MAX_TRIES = 8
LEASE = timedelta(seconds=60)
PRUNE_EVERY = timedelta(hours=1)
MAX_BACKOFF_S = 3600.0


class EventWebhooks:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], redis: Redis, *,
        retry_s: float | None = None, allow_private: bool | None = None,
        timeout_s: float = 10.0,
    ) -> None:  # fmt: skip
        self.sessions = sessions
        self.redis = redis
        self.retry_s = (
            retry_s if retry_s is not None else _env_float("CROCEVIA_WEBHOOK_RETRY_S", 30)
        )
        self.allow_private = (
            allow_private if allow_private is not None else signed_post.private_allowed()
        )
        self.timeout_s = timeout_s
        self.http = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout_s)
        self._next_prune: datetime | None = None

    async def aclose(self) -> None:
        await self.http.aclose()

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Pass after every burst of events (at most one pass per `background.PASS_GAP_S`),
        and at least every `interval` seconds, until `stop` (inbox/event_passes.py)."""
        await pass_on_events(
            stop, self.redis, EVENTS_STREAM, lambda: self.tick(utcnow()), interval, "webhooks"
        )

    async def tick(self, now: datetime) -> int:
        """Queue what happened, send what is due; returns how many were delivered."""
        while True:
            async with self.sessions() as session, session.begin():
                seen = await webhook_queue.queue_new_events(session, now)
            if seen < webhook_queue.BATCH:
                break
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            async with self.sessions() as session, session.begin():
                await webhook_queue.prune(session, now)
        return await self.deliver_due(now)

    async def deliver_due(self, now: datetime, limit: int = 200) -> int:
        claimed = await self._claim(now, limit)
        by_sub: dict[int, list[tuple[WebhookDelivery, WebhookSubscription]]] = {}
        for delivery, sub in claimed:
            by_sub.setdefault(sub.id, []).append((delivery, sub))
        done = await asyncio.gather(*(self._send_in_order(items) for items in by_sub.values()))
        return sum(done)

    async def _claim(
        self, now: datetime, limit: int
    ) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
        """Due deliveries of active subscriptions, each leased to us by moving its next
        attempt past the lease (another worker's lease makes our update match nothing)."""
        won: list[tuple[WebhookDelivery, WebhookSubscription]] = []
        async with self.sessions() as session, session.begin():
            due = (
                await session.execute(
                    select(WebhookDelivery, WebhookSubscription)
                    .join(
                        WebhookSubscription,
                        WebhookSubscription.id == WebhookDelivery.subscription_id,
                    )
                    .where(
                        WebhookSubscription.active.is_(True),
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .order_by(WebhookDelivery.id)
                    .limit(limit)
                )  # fmt: skip
            ).all()
            for delivery, sub in list(due):
                taken = await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery.id,
                           WebhookDelivery.next_attempt_at == delivery.next_attempt_at)
                    .values(next_attempt_at=now + LEASE)
                )  # fmt: skip
                if getattr(taken, "rowcount", 0) == 1:
                    won.append((delivery, sub))
        return won

    async def _send_in_order(
        self, items: Sequence[tuple[WebhookDelivery, WebhookSubscription]]
    ) -> int:
        delivered = 0
        for n, (delivery, sub) in enumerate(items):
            if not await self._send(delivery, sub):
                await self._release([d for d, _s in items[n + 1 :]])
                break
            delivered += 1
        return delivered

    async def _release(self, deliveries: Sequence[WebhookDelivery]) -> None:
        """Give back leases not used this pass (their endpoint just failed)."""
        if not deliveries:
            return
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([d.id for d in deliveries]))
                .values(next_attempt_at=utcnow() + timedelta(seconds=self.retry_s))
            )

    async def _send(self, delivery: WebhookDelivery, sub: WebhookSubscription) -> bool:
        """POST one delivery and record the try; True when the endpoint took it."""
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Crocevia-Webhooks/1",
            "X-Crocevia-Event": delivery.event,
            "X-Crocevia-Delivery": str(delivery.id),
            **signed_post.signed_headers(sub.secret, body),
        }
        code: int | None = None
        error: str | None = None
        wait = 0.0
        try:
            answer = await signed_post.post(self.http, sub.url, body, headers,
                                            allow_private=self.allow_private,
                                            timeout_s=self.timeout_s)  # fmt: skip
            code = answer.status_code
            if not answer.is_success:
                error = f"HTTP {code}"
                after = answer.headers.get("retry-after", "")
                wait = float(after) if after.isdigit() else 0.0
        except UnsafeURL as exc:
            error = f"refused: {exc}"
        except (httpx.HTTPError, FetchFailed, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        attempts = delivery.attempts + 1
        values: dict[str, object] = {"attempts": attempts, "last_status": code,
                                     "last_error": error[:500] if error else None}  # fmt: skip
        now = utcnow()
        if error is None:
            values.update(status="sent", delivered_at=now)
        elif attempts >= MAX_TRIES:
            values["status"] = "failed"
            log.warning("webhook_failed", extra={"delivery": delivery.id, "subscription": sub.id,
                                                 "error": error, "attempts": attempts})  # fmt: skip
        else:
            backoff = min(self.retry_s * 2 ** (attempts - 1), MAX_BACKOFF_S)
            values["next_attempt_at"] = now + timedelta(
                seconds=max(backoff, min(wait, MAX_BACKOFF_S))
            )
            log.info("webhook_retry", extra={"delivery": delivery.id, "subscription": sub.id,
                                             "error": error, "attempts": attempts})  # fmt: skip
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values)
            )
        return error is None


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default
