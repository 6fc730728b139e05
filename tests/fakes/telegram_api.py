"""A small Telegram Bot API on 127.0.0.1, for tests.

It is a real HTTP server (Starlette under uvicorn, in a thread of its own) that answers
the methods Crocevia uses the way api.telegram.org does: `/bot{token}/{method}` with
form or multipart parameters, `{"ok": true, "result": ...}` answers, error answers
with `error_code`, `description` and `parameters.retry_after`, and file downloads
under `/file/bot{token}/{file_path}`. It records every call, holds a queue of
updates for getUpdates (confirmed by `offset`, as Telegram does), and can be told to
answer a method with 429 once or to answer 403 for a chat that blocked the bot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.embedded_redis import free_port

BOT_ID = 4242
BOT_USERNAME = "crocevia_test_bot"
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})


@dataclass
class Call:
    """One Bot API request as the server received it."""

    method: str
    params: dict[str, str]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    status: int = 200
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    status: int
    description: str
    parameters: dict[str, Any] | None = None


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.port = free_port()
        self.calls: list[Call] = []
        self.webhook: dict[str, str] = {}
        self.blocked_chats: set[int] = set()
        self._updates: list[dict[str, Any]] = []
        self._files: dict[str, tuple[str, bytes]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._holds: dict[str, list[float]] = {}
        self.holding = threading.Event()  # set while a held call waits
        self._message_ids = itertools.count(1000)
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._download),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-telegram")

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The `api_base_url` to put in a Telegram inbox's settings."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTelegram:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Telegram Bot API did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    # -- what tests set up -------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        with self._lock:
            self._updates.append(update)

    def add_file(self, file_id: str, data: bytes, file_path: str) -> None:
        """A file that getFile describes and `/file/bot{token}/{file_path}` serves."""
        with self._lock:
            self._files[file_id] = (file_path, data)

    def rate_limit_next(self, method: str, retry_after: int = 1) -> None:
        """Answer the next call of `method` with 429 and parameters.retry_after."""
        self._fail_next(
            method,
            _Failure(429, f"Too Many Requests: retry after {retry_after}",
                     {"retry_after": retry_after}),
        )  # fmt: skip

    def hold_next(self, method: str, seconds: float) -> None:
        """Answer the next call of `method` only after `seconds` (a slow platform)."""
        with self._lock:
            self._holds.setdefault(method, []).append(seconds)

    def block(self, chat_id: int) -> None:
        """The user of `chat_id` blocked the bot: sends to it answer 403."""
        with self._lock:
            self.blocked_chats.add(chat_id)

    def _fail_next(self, method: str, failure: _Failure) -> None:
        with self._lock:
            self._failures.setdefault(method, []).append(failure)

    # -- what tests read ---------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    async def wait_for_call(
        self, method: str, count: int = 1, timeout: float = 15.0, status: int = 200
    ) -> list[Call]:
        """Wait until `count` calls of `method` were answered with `status`."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_of(method) if c.status == status]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} {method} calls with {status}; wanted {count}")
            await asyncio.sleep(0.05)

    # -- the server --------------------------------------------------------------------

    async def _params(self, request: Request) -> tuple[dict[str, str], dict[str, Any]]:
        params: dict[str, str] = dict(request.query_params)
        files: dict[str, tuple[str, bytes]] = {}
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            body = await request.json()
            params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
        elif request.method == "POST":
            async with request.form() as form:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        files[key] = (value.filename or "", await value.read())
                    else:
                        params[key] = value
        return params, files

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    @staticmethod
    def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return JSONResponse(body, status)

    async def _method(self, request: Request) -> Response:
        method = request.path_params["method"]
        params, files = await self._params(request)
        call = Call(method, params, files)
        self._record(call)
        if request.path_params["token"] != self.token:
            call.status = 401
            return self._error(401, "Unauthorized")
        with self._lock:
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
            holds = self._holds.get(method)
            hold = holds.pop(0) if holds else 0.0
        if hold:
            self.holding.set()
            await asyncio.sleep(hold)
            self.holding.clear()
        if failure is None and method in SEND_METHODS:
            if int(params.get("chat_id", "0")) in self.blocked_chats:
                failure = _Failure(403, "Forbidden: bot was blocked by the user")
        if failure is not None:
            call.status = failure.status
            return self._error(failure.status, failure.description, failure.parameters)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            call.status = 404
            return self._error(404, "Not Found: method not found")
        result = await handler(params, files)
        if isinstance(result, Response):
            call.status = result.status_code
            return result
        return JSONResponse({"ok": True, "result": result})

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        with self._lock:
            found = [d for p, d in self._files.values() if p == request.path_params["path"]]
        if not found:
            return Response(status_code=404)
        return Response(found[0], media_type="application/octet-stream")

    # -- Bot API methods ---------------------------------------------------------------

    async def _m_getMe(self, _p: dict[str, str], _f: dict[str, Any]) -> Any:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Crocevia Test",
                "username": BOT_USERNAME, "can_join_groups": False,
                "can_read_all_group_messages": False, "supports_inline_queries": False}  # fmt: skip

    async def _m_setWebhook(self, p: dict[str, str], _f: dict[str, Any]) -> Any:
        with self._lock:
            self.webhook = dict(p)
        return True

    async def _m_deleteWebhook(self, _p: dict[str, str], _f: dict[str, Any]) -> Any:
        with self._lock:
            self.webhook = {}
        return True

    async def _m_getUpdates(self, p: dict[str, str], _f: dict[str, Any]) -> Any:
        if self.webhook:
            return self._error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(p.get("offset", "0"))
        limit = int(p.get("limit", "100"))
        deadline = time.monotonic() + min(float(p.get("timeout", "0")), 5.0)
        while True:
            with self._lock:
                # Asking with an offset confirms every update before it: they are gone.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = self._updates[:limit]
            if ready or time.monotonic() >= deadline or self._server.should_exit:
                return ready
            await asyncio.sleep(0.05)

    async def _m_getFile(self, p: dict[str, str], _f: dict[str, Any]) -> Any:
        with self._lock:
            found = self._files.get(p.get("file_id", ""))
        if found is None:
            return self._error(400, "Bad Request: invalid file_id")
        path, data = found
        return {"file_id": p["file_id"], "file_unique_id": f"u-{p['file_id']}",
                "file_size": len(data), "file_path": path}  # fmt: skip

    def _sent(self, p: dict[str, str], **content: Any) -> dict[str, Any]:
        chat_id = int(p["chat_id"])
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Crocevia Test"},
                **content}  # fmt: skip

    async def _m_sendMessage(self, p: dict[str, str], _f: dict[str, Any]) -> Any:
        if not p.get("text"):
            return self._error(400, "Bad Request: message text is empty")
        return self._sent(p, text=p["text"])

    async def _m_sendPhoto(self, p: dict[str, str], f: dict[str, Any]) -> Any:
        if "photo" not in f and "photo" not in p:
            return self._error(400, "Bad Request: there is no photo in the request")
        n = next(self._message_ids)
        size = {"file_id": f"photo-{n}", "file_unique_id": f"uphoto-{n}", "width": 1, "height": 1}
        return self._sent(p, photo=[size], **({"caption": p["caption"]} if "caption" in p else {}))

    async def _m_sendDocument(self, p: dict[str, str], f: dict[str, Any]) -> Any:
        if "document" not in f and "document" not in p:
            return self._error(400, "Bad Request: there is no document in the request")
        n = next(self._message_ids)
        name = f["document"][0] if "document" in f else "file"
        doc = {"file_id": f"doc-{n}", "file_unique_id": f"udoc-{n}", "file_name": name}
        return self._sent(p, document=doc, **({"caption": p["caption"]} if "caption" in p else {}))
