"""`/api/reports/*` and `/api/live`: figures for team leads and admins (inbox/reports.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_agent
from gateway.api.errors import INT64, ApiError
from gateway.runtime import runtime
from inbox import reports
from inbox.model import Agent, utcnow
from inbox.spreadsheet_csv import BOM, SheetStyle

CSV_STATS = ("first_response", "waiting", "resolution")
_STAT_IT = {"first_response": "prima risposta", "waiting": "attesa", "resolution": "risoluzione"}
CSV_NAMES: dict[str, dict[str, str]] = {
    "group": {"it": "gruppo"},
    "name": {"it": "nome"},
    "conversations": {"it": "conversazioni"},
    "messages_in": {"it": "messaggi ricevuti"},
    "messages_out": {"it": "messaggi inviati"},
    "csat_average": {"it": "CSAT medio"},
    "csat_count": {"it": "valutazioni CSAT"},
    **{f"{k}_median_s": {"it": f"{v} mediana (s)"} for k, v in _STAT_IT.items()},
    **{f"{k}_p90_s": {"it": f"{v} 90° percentile (s)"} for k, v in _STAT_IT.items()},
    **{f"{k}_count": {"it": f"{v} (numero)"} for k, v in _STAT_IT.items()},
}


async def _lead(request: Request) -> tuple[Agent, frozenset[int] | None]:
    """The caller and the teams their reports cover (None: all); 403 for agents and
    marketing."""
    agent, viewer = await require_agent(request)
    if not viewer.leads:
        raise ApiError(403, "forbidden", "reports are for team leads and admins")
    return agent, viewer.report_teams


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


async def _summary(request: Request) -> tuple[dict[str, Any], Agent]:
    agent, teams = await _lead(request)
    start, end = _period(request)
    async with runtime(request).sessions() as session:
        try:
            body = await reports.summary(
                session, start, end, request.query_params.get("group_by", "none"), teams=teams
            )
            return body, agent
        except reports.InvalidReport as exc:
            raise ApiError(400, "invalid_field", str(exc)) from None


async def summary(request: Request) -> Response:
    body, _agent = await _summary(request)
    return JSONResponse(body)


async def summary_csv(request: Request) -> Response:
    """The report as CSV for a spreadsheet in the caller's language and time zone."""
    body, agent = await _summary(request)
    style = SheetStyle.of(agent.language, agent.timezone)
    columns = ["group", "name", "conversations", "messages_in", "messages_out"]
    for stat in CSV_STATS:
        columns += [f"{stat}_median_s", f"{stat}_p90_s", f"{stat}_count"]
    columns += ["csat_average", "csat_count"]
    rows: list[list[Any]] = [style.header(columns, CSV_NAMES)]
    for g in body["groups"]:
        row = [g["key"], g["name"], g["conversations"], g["messages_in"], g["messages_out"]]
        for stat in CSV_STATS:
            row += [g[stat]["median"], g[stat]["p90"], g[stat]["count"]]
        rows.append([*row, g["csat"]["average"], g["csat"]["count"]])
    out = BOM + style.rows(rows)
    name = f"crocevia-report-{body['group_by']}-{body['from'][:10]}-{body['to'][:10]}.csv"
    return Response(
        out,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def heatmap(request: Request) -> Response:
    _agent, teams = await _lead(request)
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
    _agent, teams = await _lead(request)
    async with runtime(request).sessions() as session:
        body = await reports.live(session, utcnow(), teams=teams)
    return JSONResponse(body)
