"""An integrator's HTTP endpoint for tests: records every POST and answers from a script."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    answered: int
    at: float  # time.monotonic() when it arrived


class Receiver:
    """Answers each POST with the next status of `script` (then `then`), and `reply` as
    its JSON body."""

    def __init__(self, script: list[int] | None = None, then: int = 200,
                 reply: bytes = b"{}") -> None:  # fmt: skip
        self.script = list(script or [])
        self.then = then
        self.reply = reply
        self.got: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    code = receiver.script.pop(0) if receiver.script else receiver.then
                    receiver.got.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body, code,
                        time.monotonic()))  # fmt: skip
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def receiving(script: list[int] | None = None, then: int = 200,
              reply: bytes = b"{}") -> Iterator[Receiver]:  # fmt: skip
    receiver = Receiver(script, then, reply)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
