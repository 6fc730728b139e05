"""Operations endpoints: /healthz (process up), /readyz (database and Redis), /metrics."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.metrics import OUTBOX_BACKLOG
from gateway.runtime import runtime


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    rt = runtime(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            async with rt.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        async with asyncio.timeout(2):
            await rt.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, 200 if ready else 503)


async def metrics(request: Request) -> Response:
    try:
        OUTBOX_BACKLOG.set(await runtime(request).relay.backlog())
    except Exception:  # the gauge keeps its last value when the database is away
        pass
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
