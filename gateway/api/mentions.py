"""`GET /api/mentions`: the notes that named the caller with @, not yet read (opening the
conversation reads them)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.runtime import runtime
from inbox import mentions


async def my_mentions(request: Request) -> Response:
    agent, _viewer = await require_agent(request)
    async with runtime(request).sessions() as session:
        found = await mentions.unread_for(session, agent.id)
    return JSONResponse({"mentions": found})
