"""`GET /api/search?q=…`: conversations whose messages or customer match (inbox/search.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.api.errors import ApiError, no_nul
from gateway.runtime import runtime
from inbox import search as finder


async def search(request: Request) -> Response:
    _agent, viewer = await require_agent(request)
    if not viewer.reads_conversations:
        raise ApiError(403, "forbidden", "marketing does not read conversations")
    no_nul(request)
    query = request.query_params.get("q", "")
    if len(query) > finder.MAX_QUERY:
        raise ApiError(400, "invalid_field", f"q: at most {finder.MAX_QUERY} characters")
    async with runtime(request).sessions() as session:
        hits = await finder.search(session, viewer, query)
    return JSONResponse({"results": [{"conversation": h.conversation, "message_id": h.message_id,
                                      "snippet": h.snippet} for h in hits]})  # fmt: skip
