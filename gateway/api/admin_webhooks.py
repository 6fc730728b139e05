"""Admins' outbound webhooks: subscribe a URL to events, read each delivery's log, send a
failed one again (gateway/event_webhooks.py sends them). Every change is audited."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.safe_fetch import UnsafeURL
from connectors.signed_post import check_url
from gateway.api.agents_auth import require_admin
from gateway.api.conversations import _path_id
from gateway.api.errors import BIG_INT, ApiError, json_body, short_text
from gateway.runtime import runtime
from inbox import audit
from inbox.model import WebhookDelivery, WebhookSubscription, utcnow
from inbox.serialize import iso

#: The events a subscription may name (docs/api.md, "Events"); [] means all of them.
EVENTS = ("conversation.created", "conversation.updated", "conversation.read",
          "message.created", "message.updated", "sla.breached", "agent.updated")  # fmt: skip
STATUSES = ("pending", "sent", "failed")


def subscription_dict(s: WebhookSubscription) -> dict[str, Any]:
    return {"id": s.id, "url": s.url, "events": list(s.events), "active": s.active,
            "description": s.description, "created_at": iso(s.created_at)}  # fmt: skip


def delivery_dict(d: WebhookDelivery) -> dict[str, Any]:
    return {"id": d.id, "event": d.event, "event_id": str(d.outbox_id), "status": d.status,
            "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
            "next_attempt_at": iso(d.next_attempt_at) if d.status == "pending" else None,
            "created_at": iso(d.created_at), "delivered_at": iso(d.delivered_at)}  # fmt: skip


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 1000 or "\x00" in value:
        raise ApiError(400, "invalid_field", "url: an http:// or https:// URL")
    try:
        check_url(value)
    except (UnsafeURL, ValueError) as exc:
        raise ApiError(400, "invalid_field", f"url: {exc}") from None
    return value


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise ApiError(400, "invalid_field", "events: a list of event names ([] for all)")
    unknown = sorted(set(value) - set(EVENTS))
    if unknown:
        raise ApiError(400, "invalid_field", f"events: unknown {', '.join(unknown)[:200]}; "
                       f"known: {', '.join(EVENTS)}")  # fmt: skip
    return sorted(set(value))


async def list_webhooks(request: Request) -> Response:
    await require_admin(request)
    async with runtime(request).sessions() as session:
        subs = list(
            (await session.execute(select(WebhookSubscription).order_by(WebhookSubscription.id)))
            .scalars()
        )  # fmt: skip
        counts = dict(
            (
                await session.execute(
                    select(WebhookDelivery.subscription_id, func.count())
                    .where(WebhookDelivery.status == "failed")
                    .group_by(WebhookDelivery.subscription_id)
                )
            ).all()
        )
    return JSONResponse(
        {
            "webhooks": [{**subscription_dict(s), "failed": counts.get(s.id, 0)} for s in subs],
            "events": list(EVENTS),
        }  # fmt: skip
    )


async def create_webhook(request: Request) -> Response:
    """The answer holds the signing secret, this once."""
    admin, _viewer = await require_admin(request)
    data = await json_body(request)
    active = data.get("active", True)
    if not isinstance(active, bool):
        raise ApiError(400, "invalid_field", "active: true or false")
    sub = WebhookSubscription(
        url=_url(data.get("url")), events=_events(data.get("events", [])),
        description=short_text(data.get("description"), "description"),
        secret=secrets.token_urlsafe(32), active=active, created_at=utcnow(), since=utcnow(),
    )  # fmt: skip
    async with runtime(request).sessions() as session, session.begin():
        session.add(sub)
        await session.flush()
        audit.record(session, admin.id, "webhook.created", "webhook", sub.id, url=sub.url,
                     events=sub.events)  # fmt: skip
        body = {**subscription_dict(sub), "secret": sub.secret}
    return JSONResponse(body, 201)


async def _subscription(request: Request, session: Any) -> WebhookSubscription:
    sub = await session.get(WebhookSubscription, _path_id(request))
    if sub is None:
        raise ApiError(404, "not_found", "no such webhook")
    return sub  # type: ignore[no-any-return]


async def patch_webhook(request: Request) -> Response:
    """Change the URL, events or description; `active: false` pauses it (what happens
    meanwhile is not sent later); `rotate_secret: true` answers with a new secret."""
    admin, _viewer = await require_admin(request)
    data = await json_body(request)
    async with runtime(request).sessions() as session, session.begin():
        sub = await _subscription(request, session)
        changed: list[str] = []
        if "url" in data:
            sub.url, changed = _url(data["url"]), [*changed, "url"]
        if "events" in data:
            sub.events, changed = _events(data["events"]), [*changed, "events"]
        if "description" in data:
            sub.description = short_text(data["description"], "description")
            changed.append("description")
        if "active" in data:
            if not isinstance(data["active"], bool):
                raise ApiError(400, "invalid_field", "active: true or false")
            if data["active"] and not sub.active:
                sub.since = utcnow()  # what happened while paused is never sent
            sub.active = data["active"]
            changed.append("active")
        rotated = data.get("rotate_secret") is True
        if rotated:
            sub.secret = secrets.token_urlsafe(32)
            changed.append("secret")
        audit.record(session, admin.id, "webhook.updated", "webhook", sub.id, changed=changed)
        body = subscription_dict(sub) | ({"secret": sub.secret} if rotated else {})
    return JSONResponse(body)


async def delete_webhook(request: Request) -> Response:
    admin, _viewer = await require_admin(request)
    async with runtime(request).sessions() as session, session.begin():
        sub = await _subscription(request, session)
        audit.record(session, admin.id, "webhook.deleted", "webhook", sub.id, url=sub.url)
        await session.delete(sub)
    return Response(status_code=204)


async def webhook_deliveries(request: Request) -> Response:
    """The subscription's newest deliveries (100; `?status=failed` for one status)."""
    await require_admin(request)
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(400, "invalid_field", f"status: one of {', '.join(STATUSES)}")
    async with runtime(request).sessions() as session:
        sub = await _subscription(request, session)
        q = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
        if status:
            q = q.where(WebhookDelivery.status == status)
        rows = (await session.execute(q.order_by(WebhookDelivery.id.desc()).limit(100))).scalars()
        body = [delivery_dict(d) for d in rows]
    return JSONResponse({"deliveries": body})


async def redeliver(request: Request) -> Response:
    """Send a delivery again now (a failed one gets 8 more tries)."""
    admin, _viewer = await require_admin(request)
    delivery_id = _path_id(request, "delivery", BIG_INT)
    async with runtime(request).sessions() as session, session.begin():
        sub = await _subscription(request, session)
        d = await session.get(WebhookDelivery, delivery_id)
        if d is None or d.subscription_id != sub.id:
            raise ApiError(404, "not_found", "no such delivery")
        if d.status == "sent":
            raise ApiError(409, "conflict", "this delivery was sent already")
        d.status, d.attempts, d.next_attempt_at = "pending", 0, utcnow()
        audit.record(session, admin.id, "webhook.redelivered", "webhook", sub.id, delivery=d.id)
        body = delivery_dict(d)
    return JSONResponse(body)
