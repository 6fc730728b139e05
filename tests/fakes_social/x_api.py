"""A small X API v2 on 127.0.0.1: mentions, DM events, posting tweets and DMs, 429s.

It answers the way api.x.com does for the endpoints Crocevia uses: newest first,
`since_id` and `pagination_token`/`meta.next_token` paging, `includes.users` for
the `author_id`/`sender_id` expansions, 201 answers with the new id for posts and
DMs, and 429 answers with `x-rate-limit-reset` (epoch seconds) when told to.
Requests without an `Authorization` header (OAuth 1.0a or Bearer) get 401.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes_social.server import Call, LocalServer

ACCOUNT_ID = "1500000000000000001"
ACCOUNT_HANDLE = "crocevia_care"


class FakeX(LocalServer):
    name = "fake-x-api"

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {
            ACCOUNT_ID: {"id": ACCOUNT_ID, "name": "Crocevia Care", "username": ACCOUNT_HANDLE}
        }
        self.mentions: list[dict[str, Any]] = []  # oldest first
        self.dm_events: list[dict[str, Any]] = []  # oldest first
        self.posted: list[dict[str, Any]] = []
        self._ids = itertools.count(1_800_000_000_000_000_000)
        self._limits: dict[str, list[float]] = {}  # path part -> reset delays
        super().__init__(
            Starlette(
                routes=[
                    Route("/2/users/{id}/mentions", self._mentions),
                    Route("/2/dm_events", self._dm_events),
                    Route("/2/tweets", self._create_tweet, methods=["POST"]),
                    Route(
                        "/2/dm_conversations/with/{pid}/messages", self._create_dm, methods=["POST"]
                    ),  # fmt: skip
                ]
            )
        )

    # -- what tests set up ------------------------------------------------------------------

    def next_id(self) -> str:
        return str(next(self._ids))

    def add_user(self, user_id: str, name: str, username: str) -> None:
        self.users[user_id] = {"id": user_id, "name": name, "username": username,
                               "profile_image_url": f"https://pbs.example.test/{username}.jpg"}  # fmt: skip

    def mention(self, author: str, text: str, reply_to: str | None = None) -> str:
        tid = self.next_id()
        tweet: dict[str, Any] = {"id": tid, "text": text, "author_id": author,
                                 "created_at": _now(), "conversation_id": reply_to or tid}  # fmt: skip
        if reply_to:
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
        with self._lock:
            self.mentions.append(tweet)
        return tid

    def dm(self, sender: str, text: str) -> str:
        eid = self.next_id()
        with self._lock:
            self.dm_events.append({"id": eid, "event_type": "MessageCreate", "text": text,
                                   "sender_id": sender, "created_at": _now(),
                                   "dm_conversation_id": f"{sender}-{ACCOUNT_ID}"})  # fmt: skip
        return eid

    def rate_limit_next(self, path_part: str, reset_in: float = 2.0) -> None:
        """The next request whose path contains `path_part` answers 429."""
        with self._lock:
            self._limits.setdefault(path_part, []).append(reset_in)

    # -- the API ------------------------------------------------------------------------------

    async def _begin(self, request: Request) -> tuple[Call, JSONResponse | None]:
        body = await request.body()
        call = Call(request.method, request.url.path, dict(request.query_params),
                    json.loads(body) if body else None, dict(request.headers))  # fmt: skip
        self.record(call)
        auth = request.headers.get("authorization", "")
        if not auth.startswith(("OAuth ", "Bearer ")):
            call.status = 401
            return call, JSONResponse({"title": "Unauthorized", "status": 401}, 401)
        with self._lock:
            for part, delays in self._limits.items():
                if part in request.url.path and delays:
                    reset = int(time.time() + delays.pop(0))
                    call.status = 429
                    return call, JSONResponse(
                        {"title": "Too Many Requests", "detail": "Too Many Requests",
                         "type": "about:blank", "status": 429}, 429,
                        headers={"x-rate-limit-limit": "180", "x-rate-limit-remaining": "0",
                                 "x-rate-limit-reset": str(reset)},
                    )  # fmt: skip
        return call, None

    def _page(
        self, items: list[dict[str, Any]], params: dict[str, str], key: str
    ) -> dict[str, Any]:
        newest_first = sorted(items, key=lambda i: int(i["id"]), reverse=True)
        if params.get("since_id"):
            newest_first = [i for i in newest_first if int(i["id"]) > int(params["since_id"])]
        start = int(params.get("pagination_token") or 0)
        size = int(params.get("max_results") or 100)
        page = newest_first[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0]["id"], page[-1]["id"]
        if start + size < len(newest_first):
            meta["next_token"] = str(start + size)
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
            ids = {i[key] for i in page}
            body["includes"] = {"users": [self.users[u] for u in ids if u in self.users]}
        return body

    async def _mentions(self, request: Request) -> JSONResponse:
        _call, refused = await self._begin(request)
        if refused:
            return refused
        with self._lock:
            mine = list(self.mentions)
        return JSONResponse(self._page(mine, dict(request.query_params), "author_id"))

    async def _dm_events(self, request: Request) -> JSONResponse:
        _call, refused = await self._begin(request)
        if refused:
            return refused
        params = dict(request.query_params)
        params.pop("since_id", None)  # the endpoint has no since_id
        with self._lock:
            events = list(self.dm_events)
        return JSONResponse(self._page(events, params, "sender_id"))

    async def _create_tweet(self, request: Request) -> JSONResponse:
        call, refused = await self._begin(request)
        if refused:
            return refused
        tid, call.status = self.next_id(), 201
        with self._lock:
            self.posted.append({"kind": "tweet", "id": tid, **(call.json or {})})
        return JSONResponse({"data": {"id": tid, "text": (call.json or {}).get("text", ""),
                                      "edit_history_tweet_ids": [tid]}}, 201)  # fmt: skip

    async def _create_dm(self, request: Request) -> JSONResponse:
        call, refused = await self._begin(request)
        if refused:
            return refused
        eid, call.status = self.next_id(), 201
        pid = request.path_params["pid"]
        with self._lock:
            self.posted.append({"kind": "dm", "id": eid, "to": pid, **(call.json or {})})
            self.dm_events.append({"id": eid, "event_type": "MessageCreate",
                                   "text": (call.json or {}).get("text", ""), "sender_id": ACCOUNT_ID,
                                   "created_at": _now(), "dm_conversation_id": f"{pid}-{ACCOUNT_ID}"})  # fmt: skip
        return JSONResponse({"data": {"dm_conversation_id": f"{pid}-{ACCOUNT_ID}",
                                      "dm_event_id": eid}}, 201)  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
