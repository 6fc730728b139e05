"""`/api/audit`: the audit log, for admins only (inbox/audit.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.api.errors import INT64, ApiError, no_nul
from gateway.runtime import runtime
from inbox import audit
from inbox.model import Role


async def audit_log(request: Request) -> Response:
    agent, _viewer = await require_agent(request)
    if agent.role != Role.ADMIN:
        raise ApiError(403, "forbidden", "the audit log is for admins")
    no_nul(request)
    q = request.query_params
    try:
        before = int(q["before_id"]) if q.get("before_id") else None
        if before is not None and before not in INT64:
            raise ValueError(q["before_id"])
        limit = min(max(int(q.get("limit", "100")), 1), 500)
    except ValueError:
        raise ApiError(400, "invalid_field", "before_id and limit must be integers") from None
    async with runtime(request).sessions() as session:
        entries = await audit.recent(
            session, action=q.get("action") or None, before_id=before, limit=limit
        )
    return JSONResponse({"entries": entries})
