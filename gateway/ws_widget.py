"""`/ws/widget`: a website visitor's messages in, public replies out (docs/api.md)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from starlette.websockets import WebSocket

from connectors.website import WebsiteConnector
from gateway import limits, socket_quota, sockets, visitor_contact
from gateway.api.files import load_attachments
from gateway.frames import attachment_ids, bool_field, client_id_field, text_field
from gateway.metrics import MESSAGES_IN
from gateway.runtime import Runtime, runtime
from gateway.socket_quota import WIDGET_SOCKETS
from gateway.stream_event import StreamEvent
from gateway.subscriber import Subscriber
from gateway.visitor_tokens import Visitor, issue, verify
from gateway.visitor_view import visitor_frame, visitor_message
from inbox.conversations import (
    ConversationRouting,
    latest_routing_of_contact,
    latest_routing_of_contact_sync,
)
from inbox.ingest import Ingested, UnknownInbox
from inbox.serialize import message_dict

WEBSITE = WebsiteConnector()
# How long a batch waits for Redis to check its messages' rate limits: a stalled Redis
# delays the batch (and every channel's messages in it) this long at most, then the
# limits are not enforced, as when Redis is down.
ADMIT_WITHIN_S = 0.5
VISIBLE_REPLY_STATUSES = frozenset({"sent", "delivered", "read"})
ANSWERED_LIMIT = 64  # client ids kept per socket whose echo is still to come


@dataclass(eq=False, slots=True)
class VisitorPrincipal:
    visitor: Visitor
    ip: str
    conversation: dict[str, Any] | None = None
    routing_checked_at: float = field(default=0.0)
    # Client ids of this socket's messages that were acked: the ack carried the message,
    # so its message.created event is not sent to this socket again (other tabs get it).
    answered: dict[str, None] | None = None

    def acked(self, client_id: str) -> None:
        if self.answered is None:
            self.answered = {}
        self.answered[client_id] = None
        if len(self.answered) > ANSWERED_LIMIT:  # an echo that never came (Redis was away)
            del self.answered[next(iter(self.answered))]

    def is_own_echo(self, ev: StreamEvent) -> bool:
        """Whether `ev` is the message.created of a message this socket sent and was
        acked for (its ack went out before the event was published: gateway/batcher.py)."""
        if not self.answered or ev.event != "message.created" or ev.route.get("direction") != "in":
            return False
        message = ev.data.get("message")
        client_id = message.get("client_id") if isinstance(message, dict) else None
        if client_id not in self.answered:
            return False
        del self.answered[client_id]
        return True


def visitor_may_see(visitor: Visitor, ev: StreamEvent) -> bool:
    """Their own conversation's public messages; agents' replies only once sent."""
    if ev.int_route("inbox") != visitor.inbox_id or ev.int_route("contact") != visitor.contact_id:
        return False
    direction = ev.route.get("direction")
    if not direction:
        return ev.event.startswith("conversation.")
    if ev.route.get("private"):
        return False
    if direction == "out":
        return ev.event == "message.updated" and ev.route.get("status") in VISIBLE_REPLY_STATUSES
    return True


def _subscriber(p: VisitorPrincipal) -> Subscriber:
    def accepts(ev: StreamEvent) -> bool:
        if not visitor_may_see(p.visitor, ev):
            return False
        p.conversation = {"id": ev.int_route("conv"), "team_id": ev.int_route("team"),
                          "assignee_id": ev.int_route("assignee")}  # fmt: skip
        return not p.is_own_echo(ev)

    def accepts_ephemeral(payload: dict[str, Any]) -> bool:
        return (
            payload.get("from") == "agent"
            and payload.get("contact_id") == p.visitor.contact_id
            and payload.get("inbox_id") == p.visitor.inbox_id
        )

    return Subscriber(accepts, accepts_ephemeral, contact_id=p.visitor.contact_id,
                      render=visitor_frame)  # fmt: skip


async def current_conversation(rt: Runtime, visitor: Visitor) -> ConversationRouting | None:
    if not visitor.contact_id:
        return None
    async with rt.sessions() as session:
        return await latest_routing_of_contact(session, visitor.inbox_id, visitor.contact_id)


def _socket_facts(
    rt: Runtime, session: Session, visitor: Visitor, origin: str | None
) -> tuple[Visitor, ConversationRouting | None] | None:
    """What a widget socket's authentication reads, in one hop to the database's thread
    (`rt.reads`; a reconnect storm asks it of thousands of sockets at once): the inbox
    (kept 5 s), the visitor's contact and their newest conversation there. None if the
    inbox is gone, disabled, or not for this page's origin."""
    inbox = rt.inboxes.fresh(visitor.inbox_id) or rt.inboxes.one(session, visitor.inbox_id)
    if inbox is None or inbox.disabled:
        return None
    if inbox.allowed_origins and origin not in inbox.allowed_origins:
        return None
    visitor = visitor_contact.resolved_sync(session, visitor)
    if not visitor.contact_id:
        return visitor, None
    return visitor, latest_routing_of_contact_sync(session, visitor.inbox_id, visitor.contact_id)


async def widget_socket(ws: WebSocket) -> None:
    ip = ws.client.host if ws.client else "unknown"
    if not WIDGET_SOCKETS.take("ip", ip, socket_quota.PER_IP):
        await ws.accept()  # a close frame with a reason, not a bare refused handshake
        await ws.close(socket_quota.CLOSE_POLICY, "too many open chats from this address")
        return
    try:
        await _serve(ws, ip)
    finally:
        WIDGET_SOCKETS.give_back("ip", ip)


async def _serve(ws: WebSocket, ip: str) -> None:
    rt = runtime(ws)

    async def authenticate(token: str) -> VisitorPrincipal | sockets.Refused | None:
        visitor = verify(rt.settings.secret_key, token)
        if visitor is None:
            return None
        if not WIDGET_SOCKETS.take("visitor", visitor.visitor_id, socket_quota.PER_VISITOR):
            return sockets.Refused(socket_quota.CLOSE_POLICY, "too many open tabs of this chat")
        taken.append(visitor.visitor_id)
        origin, who = ws.headers.get("origin"), visitor
        found = await rt.reads.run(lambda session: _socket_facts(rt, session, who, origin))
        if found is None:
            return None
        visitor, conv = found
        p = VisitorPrincipal(visitor, ip)
        if conv is not None:
            p.conversation = {
                "id": conv.id,
                "team_id": conv.team_id,
                "assignee_id": conv.assignee_id,
            }
        return p

    def ready(p: VisitorPrincipal) -> dict[str, Any]:
        conv_id = p.conversation["id"] if p.conversation else None
        return {"type": "ready", "visitor_id": p.visitor.visitor_id, "conversation_id": conv_id}

    taken: list[str] = []  # the visitor whose socket count this socket holds
    try:
        await _run(ws, rt, authenticate, ready)
    finally:
        for visitor_id in taken:
            WIDGET_SOCKETS.give_back("visitor", visitor_id)


async def _run(ws: WebSocket, rt: Runtime, authenticate: Any, ready: Any) -> None:
    await sockets.serve(
        ws,
        kind="visitor",
        hub=rt.hub,
        authenticate=authenticate,
        make_subscriber=_subscriber,
        ready=ready,
        handlers={
            "message": lambda s, p, f: _message(rt, s, p, f),
            "typing": lambda s, p, f: _typing(rt, p, f),
        },
        on_open=lambda p: _join(rt, p),
        on_close=lambda p: _leave(rt, p),
    )


async def _join(rt: Runtime, p: VisitorPrincipal) -> None:
    if p.visitor.contact_id:  # a page view without a contact is nobody's presence
        await rt.presence.join_visitor(p.visitor.contact_id)


def _leave(rt: Runtime, p: VisitorPrincipal) -> None:
    if p.visitor.contact_id:
        rt.presence.leave_visitor(p.visitor.contact_id)


async def _message(
    rt: Runtime, s: sockets.Session, p: VisitorPrincipal, frame: dict[str, Any]
) -> sockets.Later:
    """Check the frame and queue its message for the group commit, in frame order; the
    rate limits are checked by the batch that takes it (all of that batch's at once), and
    the wait for the commit and the ack run while the socket reads the next frames."""
    client_id = client_id_field(frame)
    uses = [(limits.MESSAGES_PER_VISITOR, p.visitor.visitor_id), (limits.MESSAGES_PER_IP, p.ip)]
    ids = attachment_ids(frame)
    text = text_field(frame, rt.settings.max_text, allow_empty=bool(ids))
    files = []
    if ids:
        async with rt.sessions() as session:
            try:
                files = await load_attachments(session, ids, p.visitor.inbox_id)
            except LookupError as exc:
                raise sockets.FrameError("not_found", str(exc)) from None
    item = WEBSITE.parse_frame(p.visitor.inbox_id, p.visitor.visitor_id, client_id, text, files)
    stored = rt.batcher.enqueue(
        item, admit=lambda: limits.hit_all(rt.redis, uses, within_s=ADMIT_WITHIN_S)
    )
    return _acknowledge(rt, s, p, client_id, stored)


async def _acknowledge(
    rt: Runtime,
    s: sockets.Session,
    p: VisitorPrincipal,
    client_id: str,
    stored: Awaitable[Ingested],
) -> None:
    try:
        result = await stored
    except UnknownInbox as exc:
        raise sockets.FrameError("not_found", str(exc)) from None
    token = None
    if not p.visitor.contact_id:  # the visitor's first message made (or found) their contact
        # The socket joins it now, before the batch's events are published (gateway/batcher.py).
        p.visitor = Visitor(p.visitor.inbox_id, p.visitor.visitor_id, result.contact.id)
        rt.hub.move(s.sub, p.visitor.contact_id)
        token = issue(rt.settings.secret_key, p.visitor)  # the widget keeps this one
    if result.created:
        MESSAGES_IN.labels("website").inc()
    conv = result.conversation
    p.conversation = {"id": conv.id, "team_id": conv.team_id, "assignee_id": conv.assignee_id}
    shown = result.shown or message_dict(result.message, contact=result.contact)
    ack = {"type": "ack", "client_id": client_id,
           "message": visitor_message(shown)}  # fmt: skip
    if token is not None:
        ack["visitor_token"] = token  # now naming the contact this message made
    s.send(ack)
    if result.created:
        p.acked(client_id)
    if token is not None:
        await rt.presence.join_visitor(p.visitor.contact_id)


async def _typing(rt: Runtime, p: VisitorPrincipal, frame: dict[str, Any]) -> None:
    on = bool_field(frame, "on", True)
    conv = p.conversation
    if conv is None:
        return  # nobody to tell before the first message
    now = time.monotonic()
    if now - p.routing_checked_at > 30:  # the assignee may have changed
        p.routing_checked_at = now
        fresh = await current_conversation(rt, p.visitor)
        if fresh is not None:
            conv = p.conversation = {
                "id": fresh.id,
                "team_id": fresh.team_id,
                "assignee_id": fresh.assignee_id,
            }
    await rt.hub.publish_ephemeral(
        {"from": "visitor", "team_id": conv.get("team_id"), "assignee_id": conv.get("assignee_id")},
        {"type": "typing", "conversation_id": conv["id"], "from": "visitor", "on": on},
    )
