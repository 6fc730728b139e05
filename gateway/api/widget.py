"""`/api/widget/*`: what the embeddable widget calls over HTTP."""

from __future__ import annotations

import hmac
import re
import secrets
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import limits, visitor_contact
from gateway.api.agents_auth import bearer, client_ip
from gateway.api.errors import ApiError, field, json_body
from gateway.runtime import Runtime, runtime
from gateway.visitor_tokens import Visitor, identity_hash, issue, verify
from gateway.visitor_view import visitor_message
from inbox import contacts, csat, lifecycle
from inbox.conversations import latest_of_contact, read_up_to
from inbox.hours import InvalidSchedule, schedule_of
from inbox.model import (
    Agent,
    Contact,
    Conversation,
    Identity,
    Inbox,
    Message,
    agent_teams,
    utcnow,
)
from inbox.serialize import iso, message_dict
from inbox.types import Channel

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
# Each pre-chat field is "off", "optional" or "required"; an inbox turns them on.
DEFAULT_PRECHAT = {"name": "off", "email": "off"}


async def _inbox_by_token(session: AsyncSession, token: str) -> Inbox:
    inbox = (
        await session.execute(select(Inbox).where(Inbox.website_token == token))
    ).scalar_one_or_none()
    if inbox is None or inbox.channel != Channel.WEBSITE.value:
        raise ApiError(404, "unknown_website", "no website inbox has this website_token")
    if inbox.disabled_at is not None:
        raise ApiError(404, "inbox_disabled", "this chat is switched off")
    return inbox


async def _anyone_online(session: AsyncSession, inbox: Inbox) -> bool:
    q = select(Agent.id).where(Agent.presence == "online", Agent.active.is_(True))
    if inbox.team_id is not None:
        q = q.join(agent_teams, agent_teams.c.agent_id == Agent.id).where(
            agent_teams.c.team_id == inbox.team_id
        )
    return (await session.execute(q.limit(1))).first() is not None


def check_origin(inbox: Inbox, origin: str | None) -> None:
    """A site may list the origins allowed to embed its widget (`allowed_origins`)."""
    allowed = (inbox.settings or {}).get("allowed_origins") or []
    if allowed and origin not in allowed:
        raise ApiError(403, "origin_not_allowed", f"origin {origin!r} may not use this widget")


def _clean_email(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    value = value.strip()
    if not EMAIL.match(value):
        raise ApiError(400, "invalid_field", "email does not look like an email address")
    return value.lower()


def _clean_name(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()[:200]
    return value or None


async def create_session(request: Request) -> Response:
    data = await json_body(request)
    website_token = field(data, "website_token", str)
    old = field(data, "visitor_token", str, required=False)
    name = _clean_name(field(data, "name", str, required=False))
    email = _clean_email(field(data, "email", str, required=False))
    rt = runtime(request)
    await limits.hit(rt.redis, limits.WIDGET_SESSIONS_PER_IP, client_ip(request))
    async with rt.sessions() as session, session.begin():
        inbox = await _inbox_by_token(session, website_token)
        check_origin(inbox, request.headers.get("origin"))
        visitor = verify(rt.settings.secret_key, old) if old else None
        if visitor is not None:  # the contact may have been merged into another, or erased
            visitor = await _current(session, await visitor_contact.resolved(session, visitor))
        if visitor is None or visitor.inbox_id != inbox.id:
            # A page view: no contact until the visitor writes or says who they are.
            visitor = Visitor(inbox.id, secrets.token_urlsafe(16), 0)
        if name or email:
            if visitor.contact_id:
                await _update_contact(session, visitor.contact_id, name, email)
            else:
                visitor = await visitor_contact.make(session, visitor, name, email)
        conv = await _latest_conversation(session, visitor)
        settings = inbox.settings or {}
        now = utcnow()
        try:
            schedule = schedule_of(inbox.timezone, settings)
        except InvalidSchedule:
            schedule = schedule_of(inbox.timezone, None)  # a bad schedule never hides the chat
        body = {
            "visitor_token": issue(rt.settings.secret_key, visitor),
            "visitor_id": visitor.visitor_id,
            "conversation_id": conv.id if conv else None,
            "inbox": {
                "name": inbox.name,
                "greeting": settings.get("greeting"),
                "online": schedule.is_open(now) and await _anyone_online(session, inbox),
                "prechat": {**DEFAULT_PRECHAT, **settings.get("prechat", {})},
                "next_open_at": iso(schedule.next_open(now)),
                "locale": settings.get("locale"),
                "privacy_url": settings.get("privacy_url"),
                "colour": settings.get("colour"),
            },
        }
    return JSONResponse(body)


async def _current(session: AsyncSession, visitor: Visitor) -> Visitor | None:
    """The visitor as their contact is now: followed through merges; None once erased.
    A visitor without a contact yet is as they are."""
    if not visitor.contact_id:
        return visitor
    contact = await session.get(Contact, visitor.contact_id)
    while contact is not None and contact.merged_into_id is not None:
        contact = await session.get(Contact, contact.merged_into_id)
    if contact is None or contact.erased_at is not None:
        return None
    return Visitor(visitor.inbox_id, visitor.visitor_id, contact.id)


async def _update_contact(
    session: AsyncSession,
    contact_id: int,
    name: str | None,
    email: str | None,
    *,
    vouched: bool = False,
) -> None:
    """Name and email from the widget. An email the visitor typed is unverified (it must
    never tie them to whoever owns that address); one the shop signed for is verified."""
    contact = await session.get_one(Contact, contact_id)
    if name:
        contact.name = name
    if email and (vouched or email != contact.email or contact.email_verified is not True):
        contact.email = email
        contact.email_verified = vouched


async def _latest_conversation(session: AsyncSession, visitor: Visitor) -> Conversation | None:
    visitor = await visitor_contact.resolved(session, visitor)
    if not visitor.contact_id:
        return None
    return await latest_of_contact(session, visitor.inbox_id, visitor.contact_id)


def require_visitor(request: Request) -> Visitor:
    token = bearer(request)
    visitor = verify(runtime(request).settings.secret_key, token) if token else None
    if visitor is None:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <visitor_token>")
    return visitor


async def visitor_messages(request: Request) -> Response:
    visitor = require_visitor(request)
    rt = runtime(request)
    tip = await rt.hub.tip()
    async with rt.sessions() as session:
        conv = await _latest_conversation(session, visitor)
        messages: list[dict[str, Any]] = []
        if conv is not None:
            rows = (
                await session.execute(
                    select(Message, Agent, Contact)
                    .outerjoin(Agent, Agent.id == Message.author_agent_id)
                    .outerjoin(Contact, Contact.id == Message.author_contact_id)
                    .where(Message.conversation_id == conv.id)
                    .where(Message.direction != "note")
                    .order_by(Message.id)
                )
            ).all()
            messages = [
                visitor_message(message_dict(m, agent=a, contact=c))
                for m, a, c in rows
                if m.direction == "in" or m.status in ("sent", "delivered", "read")
            ]
        read = await read_up_to(session, conv.id) if conv is not None else 0
    return JSONResponse({"conversation_id": conv.id if conv else None, "messages": messages,
                         "read_up_to": read, "last_event_id": tip})  # fmt: skip


async def update_contact(request: Request) -> Response:
    visitor = require_visitor(request)
    data = await json_body(request)
    name = _clean_name(field(data, "name", str, required=False))
    email = _clean_email(field(data, "email", str, required=False))
    rt = runtime(request)
    async with rt.sessions() as session, session.begin():
        known = await visitor_contact.resolved(session, visitor)
        if known.contact_id:
            await _update_contact(session, known.contact_id, name, email)
        elif name or email:  # the pre-chat form: now there is someone to keep
            known = await visitor_contact.make(session, known, name, email)
    if known.contact_id == visitor.contact_id:
        return JSONResponse({})
    return JSONResponse({"visitor_token": issue(rt.settings.secret_key, known)})


async def rate(request: Request) -> Response:
    """The visitor's CSAT answer for their latest (resolved) conversation."""
    visitor = require_visitor(request)
    data = await json_body(request)
    rating = field(data, "rating", int)
    comment = field(data, "comment", str, required=False)
    if comment is not None:
        comment = comment.strip()[:2000] or None
    async with runtime(request).sessions() as session, session.begin():
        conv = await _latest_conversation(session, visitor)
        if conv is None:
            raise ApiError(404, "not_found", "no conversation to rate")
        try:
            row = await csat.record(session, conv, rating, comment, utcnow())
        except csat.CsatRefused as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        body = {"conversation_id": conv.id, "rating": row.rating, "comment": row.comment}
    return JSONResponse(body)


async def identify(request: Request) -> Response:
    """Link a shop's logged-in customer: `hash` = hex HMAC-SHA256(inbox secret, id), or of
    `id:expires` when the site gives the proof an expiry (`expires`, unix seconds)."""
    visitor = require_visitor(request)
    data = await json_body(request)
    user_id = field(data, "id", (str, int))
    user_id = str(user_id)[:200]
    given = field(data, "hash", str)
    expires = field(data, "expires", int, required=False)
    name = _clean_name(field(data, "name", str, required=False))
    email = _clean_email(field(data, "email", str, required=False))
    attributes = field(data, "attributes", dict, required=False)
    try:
        attributes = contacts.clean_attributes(attributes) if attributes is not None else None
    except contacts.InvalidContactField as exc:
        raise ApiError(400, "invalid_field", str(exc)) from None
    rt = runtime(request)
    async with rt.sessions() as session, session.begin():
        visitor = await visitor_contact.resolved(session, visitor)
        inbox = await session.get_one(Inbox, visitor.inbox_id)
        _check_expiry(inbox, expires)
        if not inbox.hmac_secret or not hmac.compare_digest(
            identity_hash(inbox.hmac_secret, user_id, expires).encode(), given.lower().encode()
        ):
            raise ApiError(403, "bad_hash", "the identity hash does not match this user id")
        contact_id = await _link_user(session, rt, visitor, inbox, user_id)
        await _update_contact(session, contact_id, name, email, vouched=True)
        if attributes is not None:
            await _site_attributes(session, contact_id, attributes)
    linked = Visitor(visitor.inbox_id, visitor.visitor_id, contact_id)
    return JSONResponse(
        {"contact_id": contact_id, "visitor_token": issue(rt.settings.secret_key, linked)}
    )


def _check_expiry(inbox: Inbox, expires: int | None) -> None:
    """A proof with `expires` is refused once that time has passed. An inbox whose settings
    name `identity_max_age_s` refuses proofs without one, or valid for longer than that."""
    now = time.time()
    max_age = (inbox.settings or {}).get("identity_max_age_s")
    if expires is None:
        if max_age:
            raise ApiError(403, "expiry_required",
                           "this inbox requires 'expires' in the signed identity")  # fmt: skip
        return
    if expires <= now:
        raise ApiError(403, "identity_expired", "the signed identity has expired; sign it again")
    if max_age and expires - now > float(max_age):
        raise ApiError(403, "expiry_too_far",
                       f"the signed identity may be valid for {max_age} seconds at most")  # fmt: skip


async def _site_attributes(session: AsyncSession, contact_id: int, given: dict[str, Any]) -> None:
    """The site's attributes (an order count...) join the contact's; rules may move its stage."""
    contact = await session.get_one(Contact, contact_id)
    before = dict(contact.attributes or {})
    try:
        contact.attributes = contacts.merge_attributes(before, given)
    except contacts.InvalidContactField as exc:
        raise ApiError(400, "invalid_field", str(exc)) from None
    await lifecycle.apply_site_attributes(session, contact, before)


async def _link_user(
    session: AsyncSession, rt: Runtime, visitor: Visitor, inbox: Inbox, user_id: str
) -> int:
    key = f"user:{inbox.id}:{user_id}"
    known = (
        await session.execute(
            select(Identity).where(Identity.channel == "website", Identity.external_id == key)
        )
    ).scalar_one_or_none()
    if not visitor.contact_id:  # identified before writing: their contact is the user's
        if known is None:
            visitor = await visitor_contact.make(session, visitor)
            session.add(Identity(channel="website", external_id=key, contact_id=visitor.contact_id))
            return visitor.contact_id
        session.add(Identity(channel="website", external_id=visitor.visitor_id,
                             contact_id=known.contact_id))  # fmt: skip
        return known.contact_id
    if known is None:
        session.add(Identity(channel="website", external_id=key, contact_id=visitor.contact_id))
        return visitor.contact_id
    target = known.contact_id
    if target != visitor.contact_id:
        # The visitor is a customer we already know: their visitor identity and
        # conversations move to that contact.
        try:
            await session.execute(
                update(Identity)
                .where(Identity.channel == "website", Identity.external_id == visitor.visitor_id)
                .values(contact_id=target)
            )
            await session.execute(
                update(Conversation)
                .where(Conversation.contact_id == visitor.contact_id)
                .values(contact_id=target)
            )
            await session.execute(
                update(Message)
                .where(Message.author_contact_id == visitor.contact_id)
                .values(author_contact_id=target)
            )
            old = await session.get_one(Contact, visitor.contact_id)
            old.merged_into_id = target
            await session.flush()
        except IntegrityError:
            raise ApiError(
                409, "conflict", "this customer already has an open conversation in this inbox"
            ) from None
    return target
