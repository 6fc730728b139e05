"""The shape every WebSocket of ours shares: auth first frame, resume, one writer.

Starlette's WebSocketEndpoint shape, written out: authenticate, subscribe to the
hub (replaying from the last id), then a receive loop; frames to the client all
go through one queue so replies and events never interleave mid-frame.

A handler may return the rest of its work (a `Later`): the loop then reads the next
frame while that rest runs, up to MAX_IN_FLIGHT per socket. A message handler uses it
to hand its message to the group commit in frame order and wait for the commit (and
send the ack) beside the next frames, so one socket's messages share a transaction
instead of taking one each, one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway import strict_json
from gateway.hub import Hub
from gateway.limits import Limited
from gateway.metrics import SOCKETS
from gateway.stream_event import valid_id
from gateway.subscriber import Subscriber
from inbox import json_codec

log = logging.getLogger("crocevia.sockets")

AUTH_TIMEOUT = 10.0
CLOSE_BAD_FIRST_FRAME = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_TRY_AGAIN = 1013  # the server cannot serve the socket now: reconnect and resume
# How often an agent socket checks that its session still holds (also at once on a logout).
RECHECK_S = float(os.environ.get("CROCEVIA_SESSION_RECHECK_S", "30"))
MAX_IN_FLIGHT = 16  # per socket: frames whose rest (a commit, an ack) is still running


class FrameError(Exception):
    """A bad frame: answered with an error frame, the socket stays open."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def error_frame(code: str, message: str, client_id: Any = None) -> str:
    cid = client_id if isinstance(client_id, str) else None
    return json_codec.dumps({"type": "error", "code": code, "message": message, "client_id": cid})


@dataclass(frozen=True, slots=True)
class Refused:
    """What `authenticate` returns to close a socket with a code of its own (not 4401)."""

    code: int
    reason: str


class FrameRefused(FrameError):
    """A frame no client of ours sends (a non-finite number, absurd nesting): the socket
    is closed with 1007, invalid payload data."""


def parse_frame(text: str) -> dict[str, Any]:
    try:
        frame = strict_json.loads(text)
    except strict_json.TooStrange as exc:
        raise FrameRefused("invalid_json", str(exc)) from None
    except ValueError as exc:
        raise FrameError("invalid_json", f"the frame is not JSON: {exc}") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("invalid_frame", 'expected a JSON object with a string "type"')
    return frame


class Session:
    """One authenticated socket."""

    def __init__(self, ws: WebSocket, sub: Subscriber) -> None:
        self.ws = ws
        self.sub = sub

    def send(self, frame: dict[str, Any]) -> None:
        self.sub.put_frame(json_codec.dumps(frame))


Authenticate = Callable[[str], Awaitable[Any | None]]
Later = Awaitable[None]  # what a handler leaves to run while the next frames are read
FrameHandler = Callable[["Session", Any, dict[str, Any]], Awaitable[Later | None]]


def _answer_failure(session: Session, kind: str, frame: dict[str, Any], exc: Exception) -> None:
    """Tell the client what became of a frame that failed (the socket stays open)."""
    client_id = frame.get("client_id")
    if isinstance(exc, FrameError):
        session.sub.put_frame(error_frame(exc.code, exc.message, client_id))
    elif isinstance(exc, Limited):
        session.send(
            {"type": "error", "code": "rate_limited", "retry_after": exc.retry_after,
             "message": f"{exc}; retry in {exc.retry_after} s",
             "client_id": client_id if isinstance(client_id, str) else None}
        )  # fmt: skip
    elif isinstance(exc, SQLAlchemyError | RedisError | OSError):
        log.warning("socket_backend_unavailable", extra={"kind": kind, "error": repr(exc)})
        session.sub.put_frame(
            error_frame(
                "unavailable",
                "storage is unavailable; nothing was stored, send again with the same client_id",
                client_id,
            )
        )
    else:
        raise exc


async def _first_frame(ws: WebSocket) -> dict[str, Any] | None:
    try:
        text = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT)
    except TimeoutError:
        await ws.close(CLOSE_AUTH_TIMEOUT, "no auth frame within 10 seconds")
        return None
    try:
        frame = parse_frame(text)
    except FrameError as exc:
        code = CLOSE_INVALID_PAYLOAD if isinstance(exc, FrameRefused) else CLOSE_BAD_FIRST_FRAME
        await ws.close(code, exc.message[:120])
        return None
    last = frame.get("last_event_id")
    if (
        frame["type"] != "auth"
        or not isinstance(frame.get("token"), str)
        or (last is not None and not (isinstance(last, str) and valid_id(last)))
    ):
        await ws.close(
            CLOSE_BAD_FIRST_FRAME, 'expected {"type": "auth", "token": ..., "last_event_id": ...}'
        )
        return None
    return frame


async def serve(
    ws: WebSocket,
    *,
    kind: str,
    hub: Hub,
    authenticate: Authenticate,
    make_subscriber: Callable[[Any], Subscriber],
    ready: Callable[[Any], dict[str, Any]],
    handlers: dict[str, FrameHandler],
    on_open: Callable[[Any], Awaitable[None]] | None = None,
    on_close: Callable[[Any], None] | None = None,
    revalidate: Callable[[str, Any], Awaitable[bool]] | None = None,
) -> None:
    """Run one socket: `handlers` maps a client frame's type to what answers it
    (`ping` is answered here); `on_open` and `on_close` bracket an authenticated socket.
    With `revalidate(token, principal)`, the socket's right to stay open is checked again
    every RECHECK_S seconds and at once on a control message (a logout anywhere); when it
    is gone the socket closes with 4401 and handles nothing more."""

    async def handle(session: Session, principal: Any, frame: dict[str, Any]) -> Later | None:
        if frame["type"] == "ping":
            session.send({"type": "pong"})
            return None
        handler = handlers.get(frame["type"])
        if handler is None:
            raise FrameError("invalid_frame", f"unknown frame type {frame['type']!r}")
        return await handler(session, principal, frame)

    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    running: set[asyncio.Task[None]] = set()

    async def finish(session: Session, frame: dict[str, Any], later: Later) -> None:
        try:
            await later
        except (FrameError, Limited, SQLAlchemyError, RedisError, OSError) as exc:
            _answer_failure(session, kind, frame, exc)
        except Exception:
            log.exception("socket_frame_failed", extra={"kind": kind})
            session.sub.put_frame(
                error_frame("internal", "the frame failed", frame.get("client_id"))
            )
        finally:
            slots.release()

    def run_later(session: Session, frame: dict[str, Any], later: Later) -> None:
        task = asyncio.create_task(finish(session, frame, later))
        running.add(task)
        task.add_done_callback(running.discard)

    await ws.accept()
    try:
        first = await _first_frame(ws)
        if first is None:
            return
        try:
            principal = await authenticate(first["token"])
        except (SQLAlchemyError, RedisError, OSError) as exc:
            # The database or Redis cannot answer now (down, or every pooled connection
            # busy in a reconnect storm): the client reconnects and resumes (1013).
            log.warning("socket_auth_unavailable", extra={"kind": kind, "error": repr(exc)})
            with contextlib.suppress(RuntimeError):
                await ws.close(CLOSE_TRY_AGAIN, "the server is busy; reconnect")
            return
        if principal is None:
            await ws.close(CLOSE_UNAUTHORIZED, "unknown, expired or revoked token")
            return
        if isinstance(principal, Refused):
            await ws.close(principal.code, principal.reason)
            return
    except WebSocketDisconnect:
        return
    # What the socket needs of its first frame; the frame itself is let go.
    token, last_event_id = first["token"], first.get("last_event_id")
    del first
    sub = make_subscriber(principal)
    session = Session(ws, sub)
    try:
        await ws.send_text(json_codec.dumps(ready(principal)))
    except (WebSocketDisconnect, RuntimeError):  # the client left right after `auth`
        return
    try:
        await hub.subscribe(sub, last_event_id)
        if on_open is not None:
            await on_open(principal)
    except (RedisError, SQLAlchemyError, OSError) as exc:
        # Redis dropped the connection while the backlog was read (or presence could not
        # be recorded): the client reconnects and resumes from the same event (1013).
        hub.unsubscribe(sub)
        log.warning("socket_subscribe_failed", extra={"error": repr(exc)})
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close(CLOSE_TRY_AGAIN, "the event stream is unavailable; reconnect")
        return
    SOCKETS.labels(kind).inc()
    writer = Writer(ws, sub)
    revoked: list[bool] = []  # made true by the watcher: a list, not an Event (no waiters)
    watcher = None
    if revalidate is not None:
        wake = asyncio.Event()
        sub.on_control = lambda _control: wake.set()
        watcher = asyncio.create_task(
            _watch(ws, hub, sub, wake, revoked, lambda: revalidate(token, principal))
        )
    try:
        while True:
            text = await ws.receive_text()
            if revoked:
                break
            frame: dict[str, Any] = {}
            await slots.acquire()  # a socket with MAX_IN_FLIGHT frames running waits here
            later: Later | None = None
            try:
                frame = parse_frame(text)
                later = await handle(session, principal, frame)
            except FrameRefused as exc:
                slots.release()
                await ws.close(CLOSE_INVALID_PAYLOAD, exc.message[:120])
                break
            except (FrameError, Limited, SQLAlchemyError, RedisError, OSError) as exc:
                _answer_failure(session, kind, frame, exc)
            if later is None:
                slots.release()
            else:
                run_later(session, frame, later)
            if writer.stopped:
                break
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("socket_failed", extra={"kind": kind})
        if ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close(1011)
    finally:
        hub.unsubscribe(sub)
        SOCKETS.labels(kind).dec()
        if on_close is not None:
            on_close(principal)
        # Frames still running are let go: a message whose commit comes after the socket
        # closed is stored all the same, and the client's resend (same client_id) is its ack.
        for task in (writer.task, watcher, *running):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _watch(
    ws: WebSocket, hub: Hub, sub: Subscriber, wake: asyncio.Event, revoked: list[bool],
    still_valid: Callable[[], Awaitable[bool]],
) -> None:  # fmt: skip
    """Close the socket with 4401 once its session no longer holds (logout, deactivation,
    a changed role or teams)."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), RECHECK_S)
        wake.clear()
        try:
            valid = await still_valid()
        except (SQLAlchemyError, OSError) as exc:  # the database is away: keep, check later
            log.warning("socket_recheck_failed", extra={"error": repr(exc)})
            continue
        if not valid:
            revoked.append(True)
            hub.unsubscribe(sub)
            with contextlib.suppress(Exception):
                await ws.close(CLOSE_UNAUTHORIZED, "the session was revoked or changed")
            return


class Writer:
    """Writes a subscriber's frames to its socket, in order. It is a task only while
    frames wait: an idle socket costs one task (its reader), not two."""

    def __init__(self, ws: WebSocket, sub: Subscriber) -> None:
        self.ws = ws
        self.sub = sub
        self.task: asyncio.Task[None] | None = None
        self.stopped = False  # the socket cannot be written any more: its reader stops
        sub.on_frame = self.wake
        if sub.frames or sub.overflowed:
            self.wake()

    def wake(self) -> None:
        if not self.stopped and (self.task is None or self.task.done()):
            self.task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while True:
                if self.sub.overflowed:
                    self.stopped = True
                    await self.ws.close(1011, "too far behind; reconnect with your last event id")
                    return
                frames = self.sub.frames
                if not frames:
                    return
                await self.ws.send_text(frames.popleft())
        except BaseException:
            self.stopped = True
            raise
