"""One socket as the hub sees it: who may see what, and the frames waiting to be written.

The socket's writer (gateway/sockets.py) sends the frames. An idle socket holds no
queue and no dedupe map: each is made when first needed.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.stream_event import StreamEvent

QUEUE_LIMIT = 5000
SEEN_LIMIT = 2048


@dataclass(eq=False, slots=True)
class Subscriber:
    accepts: Callable[[StreamEvent], bool]
    accepts_ephemeral: Callable[[dict[str, Any]], bool]
    # A widget visitor sees only their own contact's events: the hub offers them
    # nothing else (0: no contact yet, nothing). None (agents) means every event is
    # offered to `accepts`.
    contact_id: int | None = None
    # Frames waiting for the socket's writer, oldest first (made on the first frame).
    frames: deque[str] | None = None
    # Called when a frame is waiting (or the subscriber overflowed): starts the writer.
    on_frame: Callable[[], None] | None = None
    overflowed: bool = False
    # While a resume replays, live events wait here, and are then offered in order.
    buffering: bool = False
    buffer: list[StreamEvent] = field(default_factory=list)
    # How an event is put in words for this socket (visitors: a whitelist); default as is.
    render: Callable[[StreamEvent], str] | None = None
    # Told of control messages (a session revoked); never forwarded to the client.
    on_control: Callable[[dict[str, Any]], None] | None = None
    last_id: tuple[int, int] = (0, 0)
    # Event ids delivered lately (the relay is at least once); made on the first event.
    seen: OrderedDict[int, None] | None = None

    def offer(self, ev: StreamEvent) -> None:
        if self.buffering:
            self.buffer.append(ev)
            return
        self.deliver(ev)

    def deliver(self, ev: StreamEvent) -> None:
        sid = ev.sid
        if sid <= self.last_id or (self.seen is not None and ev.eid in self.seen):
            return  # replayed already, or an at-least-once repeat of the relay
        self.last_id = sid
        if self.seen is None:
            self.seen = OrderedDict()
        self.seen[ev.eid] = None
        if len(self.seen) > SEEN_LIMIT:
            self.seen.popitem(last=False)
        if not self.accepts(ev):
            return
        if self.frames is not None and len(self.frames) >= QUEUE_LIMIT:
            self.overflowed = True
            if self.on_frame is not None:
                self.on_frame()
            return
        self.put_frame(ev.frame if self.render is None else self.render(ev))

    def put_frame(self, frame: str) -> None:
        if self.frames is None:
            self.frames = deque()
        self.frames.append(frame)
        if self.on_frame is not None:
            self.on_frame()

    def end_buffering(self) -> None:
        """Offer what waited during a replay, in order, each at most once."""
        buffered, self.buffer, self.buffering = self.buffer, [], False
        for ev in buffered:
            self.deliver(ev)
