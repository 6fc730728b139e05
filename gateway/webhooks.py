"""`/webhooks/{channel}/{inbox}`: platforms push messages here.

Each request is verified by the inbox's connector (signature or secret token),
parsed into inbound messages, and answered 200 only once every message is
committed (a repeat delivery is a no-op that still answers 200). A forged
request gets 401 and a log line; a database outage gets 503 so that the
platform delivers again later.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from connectors.base import (
    AnswersChallenge,
    Connector,
    ParseError,
    ReportsStatuses,
    VerificationError,
)
from gateway import strict_json
from gateway.api.errors import INT64, ApiError, read_body
from gateway.channels import UnknownChannel, webhook_connector_for
from gateway.metrics import MESSAGES_IN
from gateway.runtime import runtime
from gateway.statuses import apply_statuses
from inbox import preparation
from inbox.files import FileStore
from inbox.ingest import UnknownInbox
from inbox.model import Inbox
from inbox.types import InboundMessage

log = logging.getLogger("crocevia.webhooks")

MAX_WEBHOOK_BODY = 1024 * 1024


async def _inbox(request: Request) -> tuple[Inbox, Connector]:
    channel = request.path_params["channel"]
    try:
        inbox_id = int(request.path_params["inbox"])
        if inbox_id not in INT64:
            raise ValueError(inbox_id)
    except ValueError:
        raise ApiError(404, "unknown_inbox", "no such inbox") from None
    async with runtime(request).sessions() as session:
        inbox = await session.get(Inbox, inbox_id)
    try:
        connector = webhook_connector_for(inbox, channel) if inbox is not None else None
    except UnknownChannel as exc:
        raise ApiError(404, "unknown_channel", str(exc)) from None
    if inbox is None or connector is None:
        raise ApiError(404, "unknown_inbox", f"no {channel} inbox {inbox_id}")
    if inbox.disabled_at is not None:
        raise ApiError(404, "inbox_disabled", f"{channel} inbox {inbox_id} is switched off")
    return inbox, connector


async def webhook_challenge(request: Request) -> Response:
    """GET: the platform checks that the URL is ours (Meta's hub.challenge, X's CRC)."""
    inbox, connector = await _inbox(request)
    if not isinstance(connector, AnswersChallenge):
        raise ApiError(405, "method_not_allowed", f"{inbox.channel} webhooks take POST only")
    try:
        body = connector.answer_challenge(dict(request.query_params))
    except VerificationError as exc:
        log.warning("webhook_challenge_refused", extra={"inbox": inbox.id, "reason": str(exc)})
        raise ApiError(403, "forbidden", "verification failed") from None
    if isinstance(body, dict):
        return JSONResponse(body)
    return PlainTextResponse(str(body))


async def webhook(request: Request) -> Response:
    inbox, connector = await _inbox(request)
    body = await read_body(request, MAX_WEBHOOK_BODY)
    try:
        connector.verify(request.headers, body)
    except VerificationError as exc:
        log.warning(
            "webhook_forged",
            extra={"inbox": inbox.id, "channel": inbox.channel, "reason": str(exc),
                   "client": request.client.host if request.client else None},
        )  # fmt: skip
        raise ApiError(401, "unauthorized", "the request's signature or secret is wrong") from None
    try:
        payload = strict_json.loads(body)
        items = connector.parse(payload)
    except (ValueError, ParseError) as exc:
        raise ApiError(400, "invalid_payload", f"not a {inbox.channel} payload: {exc}") from None
    items = await _prepare(connector, items, request)
    batcher = runtime(request).batcher
    results = await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)
    stored = 0
    for result in results:
        if isinstance(result, UnknownInbox):
            raise ApiError(404, "unknown_inbox", str(result))
        if isinstance(result, BaseException):
            log.warning("webhook_not_stored", extra={"inbox": inbox.id, "error": repr(result)})
            raise ApiError(503, "unavailable", "not stored; deliver again", {"Retry-After": "5"})
        if result.created:
            stored += 1
            MESSAGES_IN.labels(inbox.channel).inc()
    await _after_ingest(connector, payload, request)
    return JSONResponse({"received": len(items), "stored": stored})


async def _prepare(
    connector: Connector, items: list[InboundMessage], request: Request
) -> list[InboundMessage]:
    """The asynchronous steps before storing (inbox/preparation.py: files downloaded,
    senders looked up, contacts linked); a failure answers 503, so the platform retries."""
    rt = runtime(request)
    try:
        return await preparation.prepare(
            connector, items, sessions=rt.sessions,
            files=FileStore(rt.settings.data_dir / "files"), secret_key=rt.settings.secret_key,
        )  # fmt: skip
    except Exception as exc:
        log.warning(
            "webhook_prepare_failed", extra={"channel": connector.channel, "error": repr(exc)}
        )
        raise ApiError(
            503, "unavailable", "not stored; deliver again", {"Retry-After": "5"}
        ) from None


async def _after_ingest(connector: Connector, payload: Any, request: Request) -> None:
    """Connectors that also report delivery statuses of our replies (WhatsApp) hand them on."""
    if isinstance(connector, ReportsStatuses):
        await apply_statuses(runtime(request), connector.channel, connector.parse_statuses(payload))
