"""`/ws/agent`: an agent's live events, replies, notes, retries and typing (docs/api.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket

from gateway import agent_actions, sockets
from gateway.auth import agent_for_token
from gateway.frames import attachment_ids, bool_field, int_field, str_field
from gateway.metrics import INBOUND_TO_AGENT
from gateway.runtime import Runtime, runtime
from gateway.stream_event import StreamEvent
from gateway.subscriber import Subscriber
from inbox import conversations
from inbox.access import Viewer
from inbox.model import Agent


def observe_inbound_latency(created_at: str) -> None:
    """From the message's ingest (its created_at) to its event leaving for an agent."""
    if not created_at:
        return
    created = datetime.fromisoformat(created_at)
    INBOUND_TO_AGENT.observe(max((datetime.now(UTC) - created).total_seconds(), 0.0))


@dataclass(frozen=True, slots=True)
class AgentPrincipal:
    agent: Agent
    viewer: Viewer


def _subscriber(p: AgentPrincipal) -> Subscriber:
    def accepts(ev: StreamEvent) -> bool:
        if not ev.route.get("conv"):
            # Presence: every agent and lead sees who is online; marketing does not.
            return ev.event.startswith("agent.") and p.viewer.sees_presence
        if not p.viewer.may_see(ev.int_route("team"), ev.int_route("assignee")):
            return False
        if ev.event == "message.created" and ev.route.get("direction") == "in":
            observe_inbound_latency(ev.route.get("at", ""))
        return True

    def accepts_ephemeral(payload: dict[str, Any]) -> bool:
        return payload.get("from") == "visitor" and p.viewer.may_see(
            payload.get("team_id"), payload.get("assignee_id")
        )

    return Subscriber(accepts, accepts_ephemeral)


async def agent_socket(ws: WebSocket) -> None:
    rt = runtime(ws)

    async def authenticate(token: str) -> AgentPrincipal | None:
        async with rt.sessions() as session:
            agent = await agent_for_token(session, token)
        return AgentPrincipal(agent, Viewer.of(agent)) if agent is not None else None

    async def still_valid(token: str, p: AgentPrincipal) -> bool:
        now = await authenticate(token)
        return now is not None and now.viewer == p.viewer  # same agent, role and teams

    def ready(p: AgentPrincipal) -> dict[str, Any]:
        a = p.agent
        return {"type": "ready", "agent": {"id": a.id, "name": a.name, "role": a.role}}

    await sockets.serve(
        ws,
        kind="agent",
        hub=rt.hub,
        authenticate=authenticate,
        make_subscriber=_subscriber,
        ready=ready,
        revalidate=still_valid,
        handlers={
            "reply": lambda s, p, f: _reply(rt, s, p, f),
            "retry": lambda s, p, f: _retry(rt, s, p, f),
            "typing": lambda s, p, f: _typing(rt, p, f),
        },
        on_open=lambda p: rt.presence.join(p.agent.id),
        on_close=lambda p: rt.presence.leave(p.agent.id),
    )


def _refused(exc: agent_actions.ActionRefused) -> sockets.FrameError:
    return sockets.FrameError("invalid_frame" if exc.code == "invalid" else exc.code, exc.message)


async def _reply(rt: Runtime, s: sockets.Session, p: AgentPrincipal, frame: dict[str, Any]) -> None:
    client_id = str_field(frame, "client_id")
    try:
        message, _created = await agent_actions.reply(
            rt, p.agent, p.viewer, int_field(frame, "conversation_id"),
            text=str_field(frame, "text", ""), client_id=client_id,
            private=bool_field(frame, "private"), attachment_ids=attachment_ids(frame),
        )  # fmt: skip
    except agent_actions.ActionRefused as exc:
        raise _refused(exc) from None
    s.send({"type": "ack", "client_id": client_id, "message": message})


async def _retry(rt: Runtime, s: sockets.Session, p: AgentPrincipal, frame: dict[str, Any]) -> None:
    try:
        message = await agent_actions.retry(
            rt, p.agent, p.viewer, int_field(frame, "message_id", bits=64)
        )
    except agent_actions.ActionRefused as exc:
        raise _refused(exc) from None
    s.send({"type": "ack", "client_id": None, "message": message})


async def _typing(rt: Runtime, p: AgentPrincipal, frame: dict[str, Any]) -> None:
    conv_id = int_field(frame, "conversation_id")
    on = bool_field(frame, "on", True)
    async with rt.sessions() as session:
        conv = await conversations.get_visible(session, p.viewer, conv_id)
    if conv is None:
        raise sockets.FrameError("not_found", f"no conversation {conv_id} that you may see")
    await rt.hub.publish_ephemeral(
        {"from": "agent", "contact_id": conv.contact_id, "inbox_id": conv.inbox_id,
         "team_id": conv.team_id, "assignee_id": conv.assignee_id},
        {"type": "typing", "conversation_id": conv.id, "from": "agent", "name": p.agent.name,
         "on": on},
    )  # fmt: skip
