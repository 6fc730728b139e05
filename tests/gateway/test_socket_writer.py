"""A socket's writer (gateway/sockets.py) is a task only while frames wait, writes them
in order, and closes a socket that fell too far behind; an idle subscriber holds no
queue and no dedupe map (gateway/hub.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from starlette.websockets import WebSocket

from gateway.sockets import Writer
from gateway.stream_event import StreamEvent
from gateway.subscriber import QUEUE_LIMIT, Subscriber


class RecordingSocket:
    """The two calls the writer makes of Starlette's WebSocket, recorded."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.gate = asyncio.Event()
        self.gate.set()

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason or "")


def _event(n: int) -> StreamEvent:
    return StreamEvent(f"{1000 + n}-0", n, "message.created", {}, f'{{"n":{n}}}')


def _n(frame: str) -> int:
    return int(json.loads(frame)["data"]["n"])


def _pair() -> tuple[RecordingSocket, Subscriber, Writer]:
    ws = RecordingSocket()
    sub = Subscriber(lambda _ev: True, lambda _p: True)
    return ws, sub, Writer(cast(WebSocket, ws), sub)


async def test_an_idle_socket_holds_no_writer_task_queue_or_dedupe_map() -> None:
    _ws, sub, writer = _pair()
    assert writer.task is None and sub.frames is None and sub.seen is None


async def test_frames_go_out_in_order_and_the_writer_ends_when_they_are_sent() -> None:
    ws, sub, writer = _pair()
    ws.gate.clear()  # the client reads slowly: frames wait
    for n in range(1, 6):
        sub.offer(_event(n))
    sub.offer(_event(3))  # an at-least-once repeat is dropped
    sub.put_frame('{"type":"ack"}')
    first = writer.task
    assert first is not None and not first.done()
    ws.gate.set()
    await asyncio.wait_for(first, 5)
    assert [_n(f) for f in ws.sent[:-1]] == [1, 2, 3, 4, 5] and ws.sent[-1] == '{"type":"ack"}'
    assert writer.task is first and first.done() and not writer.stopped
    sub.offer(_event(6))  # a new frame starts a new, short-lived task
    assert writer.task is not first
    await asyncio.wait_for(writer.task, 5)
    assert _n(ws.sent[-1]) == 6


async def test_a_socket_too_far_behind_is_closed_to_resume() -> None:
    ws, sub, writer = _pair()
    ws.gate.clear()
    for n in range(1, QUEUE_LIMIT + 10):
        sub.offer(_event(n))
    assert sub.overflowed
    ws.gate.set()
    assert writer.task is not None
    await asyncio.wait_for(writer.task, 5)
    assert ws.closed is not None and ws.closed[0] == 1011 and writer.stopped
    sub.put_frame('{"type":"ack"}')
    assert writer.task.done()  # a stopped writer starts nothing more


async def test_a_failed_write_stops_the_writer() -> None:
    ws, sub, writer = _pair()

    async def broken(_text: str) -> None:
        raise RuntimeError("the socket is gone")

    ws.send_text = broken  # type: ignore[method-assign]
    sub.put_frame("{}")
    task: Any = writer.task
    await asyncio.gather(task, return_exceptions=True)
    assert writer.stopped
