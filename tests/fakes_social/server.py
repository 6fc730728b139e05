"""A Starlette app served by uvicorn in a thread of its own, on a free port of 127.0.0.1."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette

from gateway.embedded_redis import free_port


@dataclass
class Call:
    """One request as the server received it."""

    method: str
    path: str
    params: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int = 200
    at: float = field(default_factory=time.time)
    peer: str | None = None  # the client's address and port: one per TCP connection


class LocalServer:
    """Start with `start()`, stop with `stop()`; `url` is the base URL to configure."""

    name = "local-server"

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=self.name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def calls_to(self, method: str, path_part: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and path_part in c.path]
