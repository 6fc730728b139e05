"""The two socket routes, served ahead of the HTTP middleware and the router.

An idle socket keeps its whole call chain suspended for as long as it is open. Through
Starlette's error, page-header, NUL, CORS and exception middleware and its router, that
is a dozen coroutines, about 4 KB a socket (tracemalloc, docs/benchmarks.md), and none
of them does anything for a WebSocket: page headers and CORS are HTTP's, and the NUL
check is made here first. So `/ws/widget` and `/ws/agent` are dispatched before all of
it; every other request, and a socket whose path or query holds a NUL (which the
middleware closes with 4400), goes to the Starlette app as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from gateway.hardening import has_nul

SocketHandler = Callable[[WebSocket], Awaitable[None]]


class SocketFront:
    def __init__(self, app: Starlette, sockets: Mapping[str, SocketHandler]) -> None:
        self.app = app
        self.sockets = sockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not has_nul(scope):
            handler = self.sockets.get(scope["path"])
            if handler is not None:
                scope["app"] = self.app  # what Starlette sets: runtime(ws) reads its state
                await handler(WebSocket(scope, receive, send))
                return
        await self.app(scope, receive, send)
