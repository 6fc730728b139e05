"""`/api/segments`, `/api/signals/export` and `/api/marketing/overview`: contacts' signals
for marketing, team leads and admins (inbox/signals.py, inbox/segments.py).

Nothing here returns a message's text: signals are figures, labels and attributes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway.api.agents_auth import require_agent
from gateway.api.conversations import _path_id
from gateway.api.errors import ApiError, field, json_body
from gateway.api.reports import _period
from gateway.runtime import runtime
from inbox import audit, marketing, segments, signals
from inbox.model import Agent, Role, Segment, utcnow
from inbox.spreadsheet_csv import SheetStyle

SIGNAL_ROLES = (Role.MARKETING, Role.LEAD, Role.ADMIN)
MEDIA = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
MAX_PAGE = 500


async def _signal_reader(request: Request) -> tuple[Agent, frozenset[int] | None]:
    """The caller, and the teams whose customers they read (None: all; Viewer.signal_teams)."""
    agent, viewer = await require_agent(request)
    if agent.role not in SIGNAL_ROLES:
        raise ApiError(403, "forbidden", "signals and segments are for marketing, leads and admins")
    return agent, viewer.signal_teams


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_field", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_field", f"{name} must be from {low} to {high}")
    return value


async def list_segments(request: Request) -> Response:
    _agent, _teams = await _signal_reader(request)
    async with runtime(request).sessions() as session:
        body = [segments.segment_dict(s) for s in await segments.all_segments(session)]
    return JSONResponse({"segments": body})


async def create_segment(request: Request) -> Response:
    agent, _teams = await _signal_reader(request)
    data = await json_body(request)
    rules = field(data, "rules", dict)
    async with runtime(request).sessions() as session, session.begin():
        try:
            name = segments.check_name(field(data, "name", str))
            if await segments.by_name(session, name) is not None:
                raise ApiError(409, "conflict", "a segment with this name exists already")
            seg = await segments.create(session, name, rules, agent.id)
        except segments.InvalidRule as exc:
            raise ApiError(400, "invalid_field", str(exc)) from None
        audit.record(session, agent.id, "segment.created", "segment", seg.id, name=name)
        body = segments.segment_dict(seg)
    return JSONResponse(body, 201)


async def patch_segment(request: Request) -> Response:
    """Rename a segment or change its rules."""
    agent, _teams = await _signal_reader(request)
    data = await json_body(request)
    async with runtime(request).sessions() as session, session.begin():
        seg = await _segment(request, session)
        changed = []
        try:
            if "name" in data:
                name = segments.check_name(field(data, "name", str))
                other = await segments.by_name(session, name)
                if other is not None and other.id != seg.id:
                    raise ApiError(409, "conflict", "a segment with this name exists already")
                seg.name = name
                changed.append("name")
            if "rules" in data:
                seg.rules = segments.validate(field(data, "rules", dict))
                changed.append("rules")
        except segments.InvalidRule as exc:
            raise ApiError(400, "invalid_field", str(exc)) from None
        seg.updated_at = utcnow()
        audit.record(session, agent.id, "segment.updated", "segment", seg.id, changed=changed)
        body = segments.segment_dict(seg)
    return JSONResponse(body)


async def _segment(request: Request, session: AsyncSession) -> Segment:
    seg = await session.get(Segment, _path_id(request))
    if seg is None:
        raise ApiError(404, "not_found", "no such segment")
    return seg


async def get_segment(request: Request) -> Response:
    _agent, teams = await _signal_reader(request)
    now = utcnow()
    async with runtime(request).sessions() as session:
        seg = await _segment(request, session)
        n = await segments.count(session, seg.rules, now, teams=teams)
        body = {**segments.segment_dict(seg), "count": n, "counted_at": now.isoformat()}
    return JSONResponse(body)


async def segment_members(request: Request) -> Response:
    _agent, teams = await _signal_reader(request)
    after = _int(request, "cursor", 0, 0, 2**62)
    limit = _int(request, "limit", 100, 1, MAX_PAGE)
    async with runtime(request).sessions() as session:
        seg = await _segment(request, session)
        found, cursor = await segments.members(
            session, seg.rules, utcnow(), after_id=after, limit=limit, teams=teams
        )
    return JSONResponse(
        {
            "members": [s.as_dict() for s in found],
            "next_cursor": None if cursor is None else str(cursor),
        }
    )


async def delete_segment(request: Request) -> Response:
    agent, _teams = await _signal_reader(request)
    async with runtime(request).sessions() as session, session.begin():
        seg = await _segment(request, session)
        audit.record(session, agent.id, "segment.deleted", "segment", seg.id, name=seg.name)
        await session.delete(seg)
    return JSONResponse({})


async def export(request: Request) -> Response:
    """The signals of every contact (or of a segment's members), streamed as CSV or NDJSON."""
    agent, teams = await _signal_reader(request)
    fmt = request.query_params.get("format", "csv")
    if fmt not in signals.FORMATS:
        raise ApiError(400, "invalid_field", "format must be csv or ndjson")
    name = request.query_params.get("segment")
    now = utcnow()
    style = SheetStyle.of(agent.language, agent.timezone)  # CSV for the reader's spreadsheet
    sessions = runtime(request).sessions
    async with sessions() as session, session.begin():
        rules: dict[str, Any] | None = None
        seg_id: int | None = None
        if name:
            seg = await segments.by_name(session, name)
            if seg is None:
                raise ApiError(404, "not_found", "no such segment")
            rules, seg_id = seg.rules, seg.id
        audit.record(session, agent.id, "signals.exported", "segment" if name else "contacts",
                     seg_id, format=fmt, segment=name, via="api")  # fmt: skip

    async def body() -> AsyncIterator[str]:
        predicate = None if rules is None else segments.compile_rules(rules, now)
        async with sessions() as session:
            async for piece in signals.export(
                session, fmt, now, predicate, teams=teams, style=style
            ):
                yield piece

    stamp = now.strftime("%Y%m%d-%H%M%S")
    filename = f"crocevia-signals-{stamp}.{fmt}"
    return StreamingResponse(
        body(), media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


async def overview(request: Request) -> Response:
    _agent, teams = await _signal_reader(request)
    start, end = _period(request)
    async with runtime(request).sessions() as session:
        try:
            body = await marketing.overview(session, start, end, utcnow(), teams=teams)
        except marketing.InvalidPeriod as exc:
            raise ApiError(400, "invalid_field", str(exc)) from None
    return JSONResponse(body)
