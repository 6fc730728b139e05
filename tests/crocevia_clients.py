"""Real clients for tests: an agent and a widget visitor, over HTTP and WebSockets."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

Frame = dict[str, Any]


class SocketClient:
    def __init__(self, ws_url: str, path: str, token: str) -> None:
        self.url = f"{ws_url}{path}"
        self.token = token
        self.ws: ClientConnection | None = None
        self.last_event_id: str | None = None
        self.ready: Frame | None = None
        self.backlog: list[Frame] = []

    async def connect(self, last_event_id: str | None = None) -> Frame:
        self.ws = await connect(self.url, max_size=2**22)
        await self.ws.send(
            json.dumps({"type": "auth", "token": self.token, "last_event_id": last_event_id})
        )
        self.ready = await self.recv()
        return self.ready

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(self, frame: Frame) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 10.0) -> Frame:
        if self.backlog:
            return self.backlog.pop(0)
        assert self.ws is not None
        frame: Frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if frame.get("type") == "event":
            self.last_event_id = frame["id"]
        return frame

    async def wait_for(self, pred: Callable[[Frame], bool], timeout: float = 10.0) -> Frame:
        """The first frame matching `pred`; frames before it are kept for later recv()."""
        skipped: list[Frame] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                frame = await self.recv(max(deadline - loop.time(), 0.01))
                if pred(frame):
                    return frame
                skipped.append(frame)
        finally:
            self.backlog[:0] = skipped

    async def events(
        self, n: int, pred: Callable[[Frame], bool], timeout: float = 10.0
    ) -> list[Frame]:
        got: list[Frame] = []
        while len(got) < n:
            got.append(await self.wait_for(lambda f: f.get("type") == "event" and pred(f), timeout))
        return got

    async def quiet(self, seconds: float = 0.5) -> list[Frame]:
        """Every frame that arrives within `seconds`."""
        got = list(self.backlog)
        self.backlog.clear()
        try:
            while True:
                got.append(await self.recv(seconds))
        except TimeoutError:
            return got


async def login(base_url: str, email: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        r = await http.post("/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        return str(r.json()["token"])


class AgentClient(SocketClient):
    def __init__(self, base_url: str, ws_url: str, token: str) -> None:
        super().__init__(ws_url, "/ws/agent", token)
        self.http = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}
        )

    async def reply(self, conversation_id: int, text: str, client_id: str | None = None,
                    private: bool = False) -> Frame:  # fmt: skip
        cid = client_id or str(uuid.uuid4())
        await self.send({"type": "reply", "client_id": cid, "conversation_id": conversation_id,
                         "text": text, "private": private})  # fmt: skip
        return await self.wait_for(
            lambda f: f.get("client_id") == cid and f["type"] in ("ack", "error")
        )

    async def aclose(self) -> None:
        await self.close()
        await self.http.aclose()


class VisitorClient(SocketClient):
    def __init__(self, base_url: str, ws_url: str, session: Frame) -> None:
        super().__init__(ws_url, "/ws/widget", session["visitor_token"])
        self.session = session
        self.http = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {session['visitor_token']}"}
        )

    @classmethod
    async def start(
        cls, base_url: str, ws_url: str, website_token: str, **fields: Any
    ) -> VisitorClient:
        async with httpx.AsyncClient(base_url=base_url) as http:
            r = await http.post(
                "/api/widget/sessions", json={"website_token": website_token, **fields}
            )
            r.raise_for_status()
            return cls(base_url, ws_url, r.json())

    async def say(self, text: str, client_id: str | None = None) -> Frame:
        cid = client_id or str(uuid.uuid4())
        await self.send({"type": "message", "client_id": cid, "text": text})
        return await self.wait_for(
            lambda f: f.get("client_id") == cid and f["type"] in ("ack", "error")
        )

    async def say_with(self, text: str = "", attachments: list[str] | None = None) -> Frame:
        cid = str(uuid.uuid4())
        await self.send({"type": "message", "client_id": cid, "text": text,
                         "attachments": attachments or []})  # fmt: skip
        return await self.wait_for(
            lambda f: f.get("client_id") == cid and f["type"] in ("ack", "error")
        )

    async def aclose(self) -> None:
        await self.close()
        await self.http.aclose()


class Clients:
    """Makes agents and visitors for one test and closes them all afterwards."""

    def __init__(self, base_url: str, ws_url: str) -> None:
        self.base_url = base_url
        self.ws_url = ws_url
        self.made: list[AgentClient | VisitorClient] = []

    async def agent(self, email: str, password: str) -> AgentClient:
        client = AgentClient(
            self.base_url, self.ws_url, await login(self.base_url, email, password)
        )
        self.made.append(client)
        return client

    async def visitor(self, website_token: str, **fields: Any) -> VisitorClient:
        client = await VisitorClient.start(self.base_url, self.ws_url, website_token, **fields)
        self.made.append(client)
        return client

    def tab(self, visitor: VisitorClient) -> VisitorClient:
        """Another tab (or a reloaded page) of the same visitor."""
        client = VisitorClient(self.base_url, self.ws_url, visitor.session)
        self.made.append(client)
        return client

    async def close_all(self) -> None:
        for client in self.made:
            await client.aclose()
