"""A small Graph API on 127.0.0.1: the Send API of Messenger, Instagram and WhatsApp.

`POST /{version}/{node}/messages` answers like graph.facebook.com: WhatsApp nodes
(phone number ids) answer `{"messaging_product", "contacts", "messages": [{"id":
"wamid..."}]}`, page and Instagram nodes `{"recipient_id", "message_id"}`. A wrong
or missing bearer token gets an OAuthException (code 190). `GET /{version}/{user}`
answers a user profile. Tests can make the next send answer an error
(`fail_next`), e.g. a 429 or WhatsApp's 131047 (outside the 24-hour window).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes_social.server import Call, LocalServer

VERSION = "v23.0"


class FakeGraph(LocalServer):
    name = "fake-graph-api"

    def __init__(self, token: str, whatsapp_nodes: set[str]) -> None:
        self.token = token
        self.whatsapp_nodes = whatsapp_nodes
        self.profiles: dict[str, dict[str, Any]] = {}
        # WhatsApp media: GET /{media-id} names a URL, GET it (same token) gives the bytes.
        self.media: dict[str, tuple[bytes, str]] = {}
        self._ids = itertools.count(1)
        self._failures: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        super().__init__(
            Starlette(
                routes=[
                    Route("/{version}/{node}/messages", self._send, methods=["POST"]),
                    Route("/media-download/{media_id}", self._media_bytes),
                    Route("/{version}/{node}", self._profile),
                ]
            )
        )

    def fail_next(self, status: int, code: int, message: str, headers: dict[str, str] | None = None,
                  subcode: int | None = None) -> None:  # fmt: skip
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                                 "fbtrace_id": "AbCdEf"}  # fmt: skip
        if subcode is not None:
            error["error_subcode"] = subcode
        with self._lock:
            self._failures.append((status, {"error": error}, headers or {}))

    def sent(self) -> list[Call]:
        return [c for c in self.calls_to("POST", "/messages") if c.status == 200]

    async def _call(self, request: Request) -> tuple[Call, JSONResponse | None]:
        body = await request.body()
        call = Call(request.method, request.url.path, dict(request.query_params),
                    json.loads(body) if body else None, dict(request.headers),
                    peer=f"{request.client.host}:{request.client.port}" if request.client else None)  # fmt: skip
        self.record(call)
        if request.path_params["version"] != VERSION:
            call.status = 400
            return call, JSONResponse({"error": {"message": "Unknown version", "code": 2500}}, 400)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            call.status = 401
            return call, JSONResponse({"error": {"message": "Invalid OAuth access token.",
                                                 "type": "OAuthException", "code": 190}}, 401)  # fmt: skip
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure and request.method == "POST":
            call.status = failure[0]
            return call, JSONResponse(failure[1], failure[0], headers=failure[2])
        if failure:
            with self._lock:
                self._failures.insert(0, failure)
        return call, None

    async def _send(self, request: Request) -> JSONResponse:
        call, refused = await self._call(request)
        if refused:
            return refused
        node, body = request.path_params["node"], call.json or {}
        n = next(self._ids)
        if node in self.whatsapp_nodes:
            to = body.get("to")
            return JSONResponse({"messaging_product": "whatsapp",
                                 "contacts": [{"input": to, "wa_id": to}],
                                 "messages": [{"id": f"wamid.OUT{n:08d}"}]})  # fmt: skip
        return JSONResponse({"recipient_id": body.get("recipient", {}).get("id"),
                             "message_id": f"m_OUT{n:08d}"})  # fmt: skip

    async def _media_bytes(self, request: Request) -> Response:
        media = self.media.get(request.path_params["media_id"])
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Response(b"", 401)
        if media is None:
            return Response(b"", 404)
        return Response(media[0], media_type=media[1])

    async def _profile(self, request: Request) -> JSONResponse:
        _call, refused = await self._call(request)
        if refused:
            return refused
        media = self.media.get(request.path_params["node"])
        if media is not None:
            node = request.path_params["node"]
            return JSONResponse({"messaging_product": "whatsapp", "id": node,
                                 "url": f"{self.url}/media-download/{node}",
                                 "mime_type": media[1], "file_size": len(media[0])})  # fmt: skip
        profile = self.profiles.get(request.path_params["node"])
        if profile is None:
            return JSONResponse(
                {"error": {"message": "Unsupported get request.", "code": 100}}, 400
            )
        wanted = set(request.query_params.get("fields", "").split(","))
        return JSONResponse({k: v for k, v in profile.items() if k in wanted or k == "id"})
