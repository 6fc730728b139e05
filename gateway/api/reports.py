"""`/api/reports/*` and `/api/live`: figures for team leads and admins (inbox/reports.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.api.errors import INT64, ApiError
from gateway.runtime import runtime
from inbox import reports
from inbox.model import utcnow

CSV_STATS = ("first_response", "waiting", "resolution")


async def _lead(request: Request) -> frozenset[int] | None:
    """The teams the caller's reports cover (None: all), or 403 for agents and marketing."""
    _agent, viewer = await require_agent(request)
    if not viewer.leads:
        raise ApiError(403, "forbidden", "reports are for team leads and admins")
    return viewer.report_teams


def _period(request: Request) -> tuple[datetime, datetime]:
    """`from` and `to` as ISO 8601 times with an offset; the last 7 days by default."""
    q = request.query_params
    try:
        end = datetime.fromisoformat(q["to"]) if q.get("to") else utcnow()
        start = datetime.fromisoformat(q["from"]) if q.get("from") else end - timedelta(days=7)
    except ValueError:
        raise ApiError(400, "invalid_field", "from and to must be ISO 8601 times") from None
    if start.tzinfo is None or end.tzinfo is None:
        raise ApiError(400, "invalid_field", "from and to need a time zone offset, e.g. +01:00")
    if end - start > timedelta(days=400):
        raise ApiError(400, "invalid_field", "a report covers at most 400 days")
    return start.astimezone(UTC), end.astimezone(UTC)


async def _summary(request: Request) -> dict:  # type: ignore[type-arg]
    teams = await _lead(request)
    start, end = _period(request)
    async with runtime(request).sessions() as session:
        try:
            return await reports.summary(
                session, start, end, request.query_params.get("group_by", "none"), teams=teams
            )
        except reports.InvalidReport as exc:
            raise ApiError(400, "invalid_field", str(exc)) from None


async def summary(request: Request) -> Response:
    return JSONResponse(await _summary(request))


async def summary_csv(request: Request) -> Response:
    body = await _summary(request)
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["group", "name", "conversations", "messages_in", "messages_out"]
    for stat in CSV_STATS:
        header += [f"{stat}_median_s", f"{stat}_p90_s", f"{stat}_count"]
    writer.writerow([*header, "csat_average", "csat_count"])
    for g in body["groups"]:
        row = [g["key"], g["name"], g["conversations"], g["messages_in"], g["messages_out"]]
        for stat in CSV_STATS:
            row += [g[stat]["median"], g[stat]["p90"], g[stat]["count"]]
        writer.writerow([*row, g["csat"]["average"], g["csat"]["count"]])
    name = f"crocevia-report-{body['group_by']}-{body['from'][:10]}-{body['to'][:10]}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def heatmap(request: Request) -> Response:
    teams = await _lead(request)
    start, end = _period(request)
    raw = request.query_params.get("inbox_id")
    try:
        inbox_id = int(raw) if raw else None
        if inbox_id is not None and inbox_id not in INT64:
            raise ValueError(raw)
    except ValueError:
        raise ApiError(400, "invalid_field", "inbox_id must be an integer") from None
    async with runtime(request).sessions() as session:
        try:
            body = await reports.heatmap(session, start, end, inbox_id, teams=teams)
        except reports.InvalidReport as exc:
            raise ApiError(404, "not_found", str(exc)) from None
    return JSONResponse(body)


async def live(request: Request) -> Response:
    teams = await _lead(request)
    async with runtime(request).sessions() as session:
        body = await reports.live(session, utcnow(), teams=teams)
    return JSONResponse(body)
