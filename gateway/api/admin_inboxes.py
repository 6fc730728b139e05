"""Admins' inbox settings: create, edit, disable an inbox of any channel; store a channel's
secrets as files; point Telegram's webhook at us; try an email inbox's IMAP and SMTP logins.

Settings are checked by inbox/inbox_config.py. A secret sent in `secrets` is written to
`DATA/secrets/inbox-<id>-<name>` (mode 0600) and the settings name that file; no answer
ever contains a secret, only where it lives. Every change is audited.
"""

from __future__ import annotations

import asyncio
import os
import secrets as tokens
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.agents_auth import require_admin
from gateway.api.conversations import _path_id
from gateway.api.errors import ApiError, field, json_body
from gateway.channels import connector_for
from gateway.runtime import runtime
from inbox import audit
from inbox.inbox_config import SECRETS, InvalidConfig, clean
from inbox.model import Inbox, Team, utcnow
from inbox.serialize import iso
from inbox.types import Channel

_NAME_MAX = 200


def admin_inbox_dict(inbox: Inbox, public_url: str) -> dict[str, Any]:
    settings = dict(inbox.settings or {})
    body: dict[str, Any] = {
        "id": inbox.id, "name": inbox.name, "channel": inbox.channel, "team_id": inbox.team_id,
        "timezone": inbox.timezone, "disabled": inbox.disabled_at is not None,
        "disabled_at": iso(inbox.disabled_at), "settings": settings,
        "secrets": {name: _secret_state(settings, name) for name in SECRETS.get(inbox.channel, ())},
    }  # fmt: skip
    if inbox.channel == Channel.WEBSITE:
        body["website_token"] = inbox.website_token
        body["hmac_secret"] = inbox.hmac_secret
        body["snippet"] = (
            f'<script src="{public_url}/widget.js" data-website-token="{inbox.website_token}" '
            "async></script>"
        )
    elif inbox.channel == Channel.TELEGRAM:
        body["webhook_url"] = f"{public_url}/webhooks/telegram/{inbox.id}"
    elif inbox.channel in (Channel.X,):
        body["webhook_url"] = f"{public_url}/webhooks/x/{inbox.id}"
    elif inbox.channel in (Channel.MESSENGER, Channel.INSTAGRAM, Channel.WHATSAPP):
        body["webhook_url"] = f"{public_url}/webhooks/meta/{inbox.id}"
    elif inbox.channel == Channel.API:
        body["webhook_url"] = f"{public_url}/webhooks/api/{inbox.id}"
    return body


def _secret_state(settings: dict[str, Any], name: str) -> str:
    """'file', 'env' or 'missing': where the secret lives, never the secret."""
    if settings.get(f"{name}_file"):
        return "file"
    if settings.get(f"{name}_env"):
        return "env"
    return "missing"


async def list_inboxes(request: Request) -> Response:
    await require_admin(request)
    rt = runtime(request)
    async with rt.sessions() as session:
        rows = (await session.execute(select(Inbox).order_by(Inbox.id))).scalars()
        body = [admin_inbox_dict(i, rt.settings.public_url) for i in rows]
    return JSONResponse(body)


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", "timezone: an IANA name such as Europe/Rome")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, "invalid_field", f"timezone: unknown time zone {value!r}") from None
    return value


async def _team(session: AsyncSession, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or await session.get(
        Team, value
    ) is None:  # fmt: skip
        raise ApiError(400, "invalid_field", "team_id: an existing team's id, or null")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _NAME_MAX:
        raise ApiError(400, "invalid_field", f"name: 1 to {_NAME_MAX} characters")
    return value.strip()


def _store_secrets(inbox: Inbox, given: Any, data_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """Write the secrets sent in the body to files; the settings then name those files."""
    allowed = SECRETS.get(inbox.channel, ())
    if not isinstance(given, dict) or not set(given) <= set(allowed):
        raise ApiError(400, "invalid_field",
                       f"secrets: an object with {', '.join(allowed) or 'no keys'}")  # fmt: skip
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings = dict(inbox.settings or {})
    written = []
    for name, value in given.items():
        if not isinstance(value, str) or not value.strip() or len(value) > 4096:
            raise ApiError(400, "invalid_field", f"secrets.{name}: 1 to 4096 characters")
        if "\x00" in value or "\n" in value.strip():
            raise ApiError(400, "invalid_field", f"secrets.{name}: one line")
        path = folder / f"inbox-{inbox.id}-{name}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value.strip() + "\n")
        settings[f"{name}_file"] = str(path)
        settings.pop(f"{name}_env", None)
        written.append(name)
    return settings, written


def _checked(channel: str, settings: Any, data_dir: Path) -> dict[str, Any]:
    try:
        return clean(channel, settings, data_dir)
    except InvalidConfig as exc:
        raise ApiError(400, "invalid_settings", str(exc)) from None


async def create_inbox(request: Request) -> Response:
    admin, _viewer = await require_admin(request)
    rt = runtime(request)
    data = await json_body(request)
    name = _name(data.get("name"))
    channel = field(data, "channel", str)
    if channel not in SECRETS and channel != Channel.WEBSITE:
        raise ApiError(400, "invalid_field", "channel: website, telegram, email, x, messenger, "
                       "instagram, whatsapp or api")  # fmt: skip
    settings = _checked(channel, data.get("settings") or {}, rt.settings.data_dir)
    async with rt.sessions() as session, session.begin():
        inbox = Inbox(name=name, channel=channel, team_id=await _team(session, data.get("team_id")),
                      timezone=_timezone(data.get("timezone", "Europe/Rome")), settings=settings)  # fmt: skip
        if channel == Channel.WEBSITE:
            inbox.website_token = tokens.token_urlsafe(16)
            inbox.hmac_secret = tokens.token_urlsafe(24)
        session.add(inbox)
        await session.flush()
        given = dict(data.get("secrets") or {})
        if (
            channel == Channel.TELEGRAM
            and "webhook_secret" not in given
            and not any(k.startswith("webhook_secret_") for k in settings)
        ):
            given["webhook_secret"] = tokens.token_urlsafe(32)  # what Telegram sends back
        api_token = None
        if (
            channel == Channel.API
            and "api_token" not in given
            and not any(k.startswith("api_token_") for k in settings)
        ):
            given["api_token"] = api_token = tokens.token_urlsafe(32)  # shown once, below
        if given:
            inbox.settings, written = _store_secrets(inbox, given, rt.settings.data_dir)
        else:
            written = []
        audit.record(session, admin.id, "inbox.created", "inbox", inbox.id, channel=channel,
                     name=name, secrets=written)  # fmt: skip
        body = admin_inbox_dict(inbox, rt.settings.public_url)
        if api_token is not None:
            body["api_token"] = api_token
    return JSONResponse(body, 201)


async def patch_inbox(request: Request) -> Response:
    admin, _viewer = await require_admin(request)
    rt = runtime(request)
    data = await json_body(request)
    async with rt.sessions() as session, session.begin():
        inbox = await session.get(Inbox, _path_id(request), with_for_update=True)
        if inbox is None:
            raise ApiError(404, "not_found", "no such inbox")
        changed: list[str] = []
        if "name" in data:
            inbox.name = _name(data["name"])
            changed.append("name")
        if "team_id" in data:
            inbox.team_id = await _team(session, data["team_id"])
            changed.append("team_id")
        if "timezone" in data:
            inbox.timezone = _timezone(data["timezone"])
            changed.append("timezone")
        if "settings" in data:
            if not isinstance(data["settings"], dict):
                raise ApiError(400, "invalid_settings", "settings: an object")
            merged = {**(inbox.settings or {}), **data["settings"]}
            inbox.settings = _checked(inbox.channel, merged, rt.settings.data_dir)
            changed += [f"settings.{k}" for k in sorted(data["settings"])]
        if "secrets" in data:
            inbox.settings, written = _store_secrets(inbox, data["secrets"], rt.settings.data_dir)
            changed += [f"secrets.{k}" for k in written]
        if "disabled" in data:
            if not isinstance(data["disabled"], bool):
                raise ApiError(400, "invalid_field", "disabled: true or false")
            if data["disabled"] != (inbox.disabled_at is not None):
                inbox.disabled_at = utcnow() if data["disabled"] else None
                changed.append("disabled")
        audit.record(session, admin.id, "inbox.updated", "inbox", inbox.id, changed=changed)
        body = admin_inbox_dict(inbox, rt.settings.public_url)
    rt.inboxes.forget(inbox.id)  # its team, state or widget origins may have changed
    return JSONResponse(body)


async def _inbox_of(request: Request, channel: str) -> Inbox:
    async with runtime(request).sessions() as session:
        inbox = await session.get(Inbox, _path_id(request))
    if inbox is None or inbox.channel != channel:
        raise ApiError(404, "not_found", f"no such {channel} inbox")
    return inbox


async def telegram_webhook(request: Request) -> Response:
    """Tell Telegram to push this inbox's updates to our webhook (setWebhook)."""
    from telegram.error import TelegramError

    from connectors.telegram import ConfigError, TelegramConnector

    admin, _viewer = await require_admin(request)
    rt = runtime(request)
    inbox = await _inbox_of(request, Channel.TELEGRAM)
    try:
        connector = connector_for(inbox)
        assert isinstance(connector, TelegramConnector)
        if connector.config.token is None:
            raise ConfigError("the bot token is missing: set it first")
        url = await connector.set_webhook(rt.settings.public_url)
    except ConfigError as exc:
        raise ApiError(409, "not_configured", str(exc)) from None
    except (TelegramError, OSError) as exc:  # the platform said no, or could not be reached
        raise ApiError(502, "platform_error", f"Telegram refused: {exc}") from None
    async with rt.sessions() as session, session.begin():
        audit.record(session, admin.id, "inbox.webhook_set", "inbox", inbox.id, url=url)
    return JSONResponse({"url": url})


async def email_check(request: Request) -> Response:
    """Log in to the inbox's IMAP and SMTP servers, say what worked and what did not."""
    from connectors.email import EmailConfigError, EmailSettings
    from receivers.email_check import check_imap, check_smtp

    await require_admin(request)
    inbox = await _inbox_of(request, Channel.EMAIL)
    try:
        settings = EmailSettings.of(inbox)
    except EmailConfigError as exc:
        raise ApiError(409, "not_configured", str(exc)) from None
    imap, smtp = await asyncio.gather(check_imap(settings), check_smtp(settings))
    return JSONResponse({"imap": imap, "smtp": smtp})
