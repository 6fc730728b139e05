"""Admins' outbound webhooks: subscribe a URL to events, see each delivery's log
(gateway/event_webhooks.py sends them)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_admin
from gateway.api.conversations import _path_id
from gateway.api.errors import ApiError, json_body
from gateway.event_webhooks import delivery_dict
from gateway.runtime import runtime
from inbox import audit
from inbox.model import WebhookDelivery, WebhookSubscription

_URL = re.compile(r"https?://[^\s/]+(/\S*)?")
_EVENT = re.compile(r"[a-z_]+\.[a-z_]+")


def subscription_dict(s: WebhookSubscription) -> dict[str, Any]:
    return {"id": s.id, "url": s.url, "events": s.events, "active": s.active,
            "created_at": s.created_at.isoformat()}  # fmt: skip


def _url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1000 or not _URL.fullmatch(value):
        raise ApiError(400, "invalid_field", "url: an http(s) URL")
    return value


def _events(value: Any) -> list[str]:
    if (
        not isinstance(value, list)
        or len(value) > 50
        or not all(isinstance(e, str) and _EVENT.fullmatch(e) for e in value)
    ):
        raise ApiError(400, "invalid_field", "events: event names such as message.created "
                       "([] for every event)")  # fmt: skip
    return sorted(set(value))


async def list_webhooks(request: Request) -> Response:
    await require_admin(request)
    async with runtime(request).sessions() as session:
        rows = (
            await session.execute(select(WebhookSubscription).order_by(WebhookSubscription.id))
        ).scalars()
        body = [subscription_dict(s) for s in rows]
    return JSONResponse(body)


async def create_webhook(request: Request) -> Response:
    """The answer holds the signing secret, once."""
    admin, _viewer = await require_admin(request)
    data = await json_body(request)
    sub = WebhookSubscription(url=_url(data.get("url")), events=_events(data.get("events", [])),
                              secret=secrets.token_urlsafe(32), active=True)  # fmt: skip
    async with runtime(request).sessions() as session, session.begin():
        session.add(sub)
        await session.flush()
        audit.record(session, admin.id, "webhook.created", "webhook", sub.id, url=sub.url)
        body = {**subscription_dict(sub), "secret": sub.secret}
    return JSONResponse(body, 201)


async def patch_webhook(request: Request) -> Response:
    admin, _viewer = await require_admin(request)
    data = await json_body(request)
    async with runtime(request).sessions() as session, session.begin():
        sub = await session.get(WebhookSubscription, _path_id(request))
        if sub is None:
            raise ApiError(404, "not_found", "no such webhook")
        if "url" in data:
            sub.url = _url(data["url"])
        if "events" in data:
            sub.events = _events(data["events"])
        if "active" in data:
            if not isinstance(data["active"], bool):
                raise ApiError(400, "invalid_field", "active: true or false")
            sub.active = data["active"]
        audit.record(session, admin.id, "webhook.updated", "webhook", sub.id,
                     changed=sorted(k for k in data if k in ("url", "events", "active")))  # fmt: skip
        body = subscription_dict(sub)
    return JSONResponse(body)


async def webhook_deliveries(request: Request) -> Response:
    await require_admin(request)
    async with runtime(request).sessions() as session:
        if await session.get(WebhookSubscription, _path_id(request)) is None:
            raise ApiError(404, "not_found", "no such webhook")
        rows = (
            await session.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == _path_id(request))
                .order_by(WebhookDelivery.id.desc())
                .limit(100)
            )
        ).scalars()
        body = [delivery_dict(d) for d in rows]
    return JSONResponse({"deliveries": body})
