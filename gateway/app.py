"""The ASGI application: routes, middleware and what lives for the process's lifetime."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway import ops, webhooks
from gateway.api import (
    admin_inboxes,
    admin_people,
    admin_webhooks,
    agents_auth,
    audit,
    bulk,
    contact_notes,
    contacts,
    conversations,
    directory,
    files,
    label_catalogue,
    mentions,
    reports,
    search,
    segments,
    widget,
)
from gateway.api.errors import (
    UNAVAILABLE,
    ApiError,
    api_error_handler,
    http_error_handler,
    limited_handler,
    unavailable_handler,
)
from gateway.batcher import IngestBatcher
from gateway.gc_tuning import tune_for_serving
from gateway.hardening import RefuseNul
from gateway.hub import Hub
from gateway.limits import Limited
from gateway.metrics import INGEST_BATCH, INGEST_COMMIT
from gateway.openapi import document
from gateway.page_headers import PageHeaders
from gateway.presence import PresenceBeat
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.socket_front import SocketFront
from gateway.tagging_process import TaggingProcess
from gateway.warmup import warm_up
from gateway.widget_script import WidgetScript
from gateway.ws_agent import agent_socket
from gateway.ws_widget import widget_socket
from inbox.db import create_engine, sessionmaker
from inbox.ingest import Tagger
from inbox.redis_client import open_redis
from inbox.relay import Relay
from inbox.writes import writes_for

# One batch of messages commits at a time (gateway/batcher.py); the second connection is
# for the one that begins while another is handed back. No ping at checkout: on
# PostgreSQL it cost each batch three round trips of its ten (BEGIN, the ping, ROLLBACK);
# a batch that finds its connection dropped is run once more instead (inbox/ingest.py).
# Last in, first out: the connection the warm-up prepared its statements on serves first.
INGEST_POOL = {"pool_size": 2, "max_overflow": 0, "pool_pre_ping": False, "pool_use_lifo": True}
WEB_DIR = Path(os.environ.get("CROCEVIA_WEB_DIR", Path(__file__).resolve().parent.parent / "web"))


async def openapi(_request: Request) -> Response:
    return JSONResponse(document())


WIDGET = WidgetScript(WEB_DIR / "widget" / "widget.js")


async def widget_js(request: Request) -> Response:
    script = WIDGET.get()
    headers = {"Cache-Control": "public, max-age=300", "ETag": script.etag}
    if request.headers.get("if-none-match") == script.etag:
        return Response(status_code=304, headers=headers)
    return Response(script.text, media_type="text/javascript; charset=utf-8", headers=headers)


async def home(_request: Request) -> Response:
    return RedirectResponse("/console/")


def api_routes() -> list[BaseRoute]:
    return [
        Route("/api/openapi.json", openapi),
        Route("/api/auth/login", agents_auth.login, methods=["POST"]),
        Route("/api/auth/logout", agents_auth.logout, methods=["POST"]),
        Route("/api/me", agents_auth.me),
        Route("/api/me", agents_auth.update_me, methods=["PATCH"]),
        Route("/api/me/presence", agents_auth.set_presence, methods=["PUT"]),
        Route("/api/conversations", conversations.list_conversations),
        Route("/api/conversations/bulk", bulk.bulk_update, methods=["POST"]),
        Route("/api/search", search.search),
        Route("/api/mentions", mentions.my_mentions),
        Route("/api/conversations/{id}", conversations.patch_conversation, methods=["PATCH"]),
        Route("/api/conversations/{id}/messages", conversations.conversation_messages),
        Route("/api/conversations/{id}/messages", conversations.post_message, methods=["POST"]),
        Route("/api/conversations/{id}/read", conversations.mark_read, methods=["POST"]),
        Route("/api/messages/{id}/retry", conversations.retry_message, methods=["POST"]),
        Route("/api/inboxes", directory.list_inboxes),
        Route("/api/admin/inboxes", admin_inboxes.list_inboxes),
        Route("/api/admin/inboxes", admin_inboxes.create_inbox, methods=["POST"]),
        Route("/api/admin/inboxes/{id}", admin_inboxes.patch_inbox, methods=["PATCH"]),
        Route(
            "/api/admin/inboxes/{id}/telegram_webhook",
            admin_inboxes.telegram_webhook,
            methods=["POST"],
        ),
        Route("/api/admin/inboxes/{id}/email_check", admin_inboxes.email_check, methods=["POST"]),
        Route("/api/admin/teams", admin_people.list_teams),
        Route("/api/admin/teams", admin_people.create_team, methods=["POST"]),
        Route("/api/admin/teams/{id}", admin_people.patch_team, methods=["PATCH"]),
        Route("/api/admin/agents", admin_people.list_agents),
        Route("/api/admin/agents", admin_people.create_agent, methods=["POST"]),
        Route("/api/admin/agents/{id}", admin_people.patch_agent, methods=["PATCH"]),
        Route("/api/admin/webhooks", admin_webhooks.list_webhooks),
        Route("/api/admin/webhooks", admin_webhooks.create_webhook, methods=["POST"]),
        Route("/api/admin/webhooks/{id}", admin_webhooks.patch_webhook, methods=["PATCH"]),
        Route("/api/admin/webhooks/{id}", admin_webhooks.delete_webhook, methods=["DELETE"]),
        Route("/api/admin/webhooks/{id}/deliveries", admin_webhooks.webhook_deliveries),
        Route(
            "/api/admin/webhooks/{id}/deliveries/{delivery}/redeliver",
            admin_webhooks.redeliver,
            methods=["POST"],
        ),  # fmt: skip
        Route("/api/agents", directory.list_agents),
        Route("/api/teams", directory.list_teams),
        Route("/api/labels", label_catalogue.list_labels),
        Route("/api/labels", label_catalogue.create_label, methods=["POST"]),
        Route("/api/labels/{id}", label_catalogue.patch_label, methods=["PATCH"]),
        Route("/api/labels/{id}", label_catalogue.delete_label, methods=["DELETE"]),
        Route("/api/canned_responses", directory.list_canned),
        Route("/api/canned_responses", directory.create_canned, methods=["POST"]),
        Route("/api/canned_responses/{id}", directory.delete_canned, methods=["DELETE"]),
        Route("/api/contacts/{id}", directory.get_contact),
        Route("/api/contacts/{id}", contacts.patch_contact, methods=["PATCH"]),
        Route("/api/contacts/{id}/merge_suggestions", contacts.merge_suggestions),
        Route("/api/contacts/{id}/notes", contact_notes.list_notes),
        Route("/api/contacts/{id}/notes", contact_notes.add_note, methods=["POST"]),
        Route("/api/contacts/{id}/merge", contacts.merge, methods=["POST"]),
        Route("/api/contact_merges/{id}/undo", contacts.undo_merge, methods=["POST"]),
        Route("/api/contacts/{id}/export", contacts.export_contact),
        Route("/api/contacts/{id}/erase", contacts.erase_contact, methods=["POST"]),
        Route("/api/reports/summary", reports.summary),
        Route("/api/reports/summary.csv", reports.summary_csv),
        Route("/api/reports/heatmap", reports.heatmap),
        Route("/api/live", reports.live),
        Route("/api/audit", audit.audit_log),
        Route("/api/segments", segments.list_segments),
        Route("/api/segments", segments.create_segment, methods=["POST"]),
        Route("/api/segments/{id}", segments.get_segment),
        Route("/api/segments/{id}", segments.delete_segment, methods=["DELETE"]),
        Route("/api/segments/{id}", segments.patch_segment, methods=["PATCH"]),
        Route("/api/segments/{id}/members", segments.segment_members),
        Route("/api/signals/export", segments.export),
        Route("/api/marketing/overview", segments.overview),
        Route("/api/widget/sessions", widget.create_session, methods=["POST"]),
        Route("/api/widget/messages", widget.visitor_messages),
        Route("/api/widget/contact", widget.update_contact, methods=["POST"]),
        Route("/api/widget/identify", widget.identify, methods=["POST"]),
        Route("/api/widget/csat", widget.rate, methods=["POST"]),
        Route("/api/widget/attachments", files.widget_upload, methods=["POST"]),
        Route("/api/attachments", files.agent_upload, methods=["POST"]),
        Route("/api/files/{id}", files.download),
        Route("/webhooks/{channel}/{inbox}", webhooks.webhook, methods=["POST"]),
        Route("/webhooks/{channel}/{inbox}", webhooks.webhook_challenge, methods=["GET"]),
    ]


def routes() -> list[BaseRoute]:
    return [
        Route("/", home),
        Route("/healthz", ops.healthz),
        Route("/readyz", ops.readyz),
        Route("/metrics", ops.metrics),
        *api_routes(),
        Route("/widget.js", widget_js),
        Mount("/console", StaticFiles(directory=WEB_DIR / "console", html=True, check_dir=False)),
        Mount("/lead", StaticFiles(directory=WEB_DIR / "lead", html=True, check_dir=False)),
        Mount("/settings", StaticFiles(directory=WEB_DIR / "settings", html=True, check_dir=False)),
        Mount(
            "/marketing", StaticFiles(directory=WEB_DIR / "marketing", html=True, check_dir=False)
        ),
        Mount("/web", StaticFiles(directory=WEB_DIR, check_dir=False)),
    ]


def _tagger() -> Tagger | None:
    """Language and sentiment of inbound messages; CROCEVIA_SENTIMENT=off turns it off."""
    if os.environ.get("CROCEVIA_SENTIMENT", "on") == "off":
        return None
    from inbox.sentiment import analyse, warm_up

    warm_up()  # the models load now, before serving, not on a customer's first message
    return analyse


def _observe_batch(size: int, seconds: float) -> None:
    INGEST_BATCH.observe(size)
    INGEST_COMMIT.observe(seconds)


def _tagging_process(tagger: Tagger | None) -> TaggingProcess | None:
    """Large batches are tagged in a process of their own (gateway/tagging_process.py)
    where there is a core for it; CROCEVIA_TAGGING_PROCESS=off keeps them in the
    gateway."""
    if tagger is None or os.environ.get("CROCEVIA_TAGGING_PROCESS", "on") == "off":
        return None
    if (os.cpu_count() or 1) < 2:
        return None
    tagging = TaggingProcess()
    tagging.start()
    return tagging


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings = Settings.from_env()
    if settings.redis_url is None:
        raise RuntimeError(
            "CROCEVIA_REDIS_URL is not set; `crocevia serve` starts an embedded Redis"
        )
    engine = create_engine(settings.database_url)
    sessions = sessionmaker(engine)
    # The group commit has a pool of its own: a burst of logins and socket auths that takes
    # every connection of the shared pool never makes a customer's message wait for one.
    ingest_engine = create_engine(settings.database_url, **INGEST_POOL)
    ingest_sessions = sessionmaker(ingest_engine)
    writes = writes_for(settings.database_url, ingest_sessions)  # SQLite: a writer thread
    reads = writes_for(settings.database_url, sessions)  # widget sockets' authentication
    redis = open_redis(settings.redis_url, health_check_interval=10)
    hub = Hub(redis)
    relay = Relay(redis, sessions)
    tagger = _tagger()
    tagging = _tagging_process(tagger)
    await warm_up(writes, tagger)  # before the first customer waits for it
    batcher = IngestBatcher(
        ingest_sessions,
        relay,
        tagger,
        on_batch=_observe_batch,
        writes=writes,
        tagging=tagging,
        before_publish=hub.joined,
    )
    presence = PresenceBeat(redis)
    app.state.runtime = Runtime(
        settings, engine, sessions, redis, hub, relay, batcher, presence,
        batcher.intake.inboxes, reads,
    )  # fmt: skip
    tune_for_serving()  # after the models and pools are loaded (gateway/gc_tuning.py)
    await hub.start()
    batcher.start()
    presence.start()
    try:
        async with relay.running():  # stops after the rest, and marks what they published
            try:
                yield
            finally:
                await presence.stop()
                await batcher.stop()
                await hub.stop()
    finally:
        await redis.aclose()
        await engine.dispose()
        await writes.close()
        await reads.close()
        await ingest_engine.dispose()
        if tagging is not None:
            tagging.stop()


SOCKET_ROUTES = {"/ws/agent": agent_socket, "/ws/widget": widget_socket}  # gateway/socket_front.py


def create_app() -> SocketFront:
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(PageHeaders),
            Middleware(RefuseNul),
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "POST", "PUT", "PATCH"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=600,
            ),
        ],
        exception_handlers={
            ApiError: api_error_handler,
            HTTPException: http_error_handler,
            Limited: limited_handler,
            **dict.fromkeys(UNAVAILABLE, unavailable_handler),
        },
        lifespan=lifespan,
    )
    return SocketFront(app, SOCKET_ROUTES)
