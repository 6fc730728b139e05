"""Telegram bots as a channel, through python-telegram-bot.

An inbox's settings say where its secrets are, never the secrets themselves:
`bot_token_env` / `bot_token_file` name the environment variable or the file that
holds the bot token, `webhook_secret_env` / `webhook_secret_file` the secret token
Telegram sends back in `X-Telegram-Bot-Api-Secret-Token`. `api_base_url` (default
https://api.telegram.org) points the client at another Bot API server (a local one,
or the tests' fake), and `public_url` is where Telegram reaches our webhook.

Inbound, `parse` turns an update into `InboundMessage`s: text or caption, the
largest photo size, documents, voice notes, audio, video, locations and contacts;
`edited_message` updates come out with `edited=True` and the same external id,
which is `"{chat_id}:{message_id}"`, so a repeated update stores nothing new. Only
private chats are a conversation with a customer; group and channel updates are
ignored. Files come as file ids: `download` fetches their bytes (getFile), which the
inbox keeps in its file store (inbox/preparation.py), so that the console opens them
at `/api/files/{id}`.

`/start PAYLOAD` links a Telegram user to a contact we already know: a deep link
`https://t.me/{bot}?start={token}` carries `start_token(...)`, the contact id and
an expiry signed with HMAC-SHA256 under a key derived from CROCEVIA_SECRET_KEY and
bound to the inbox. `linked_contact` reads a valid token, and the inbox points the
sender's Telegram identity at that contact (created, or moved from the contact it had);
a forged, altered, expired or other-inbox token links nothing. The token never reaches the stored message text.

Outbound, text goes as plain text (no parse_mode, so nothing the agent writes is
read as markup) in parts of at most 4096 characters; attachments go with sendPhoto
(images) or sendDocument, with the bytes the inbox read from its file store. A 429 before anything was
sent raises a retryable `DeliveryError` carrying `retry_after` (the worker waits
that long); a 429 in the middle of a multi-part reply is waited out here, so no part
goes twice. A blocked bot (403) or a refused request (400) fails for good.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import os
import re
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from connectors import safe_fetch
from connectors.base import ParseError, VerificationError
from connectors.kept_client import KeptClient
from inbox.types import (
    Attachment,
    Channel,
    DeliveryError,
    Downloaded,
    InboundMessage,
    InboxRecord,
    OutboundMessage,
    Sender,
    SentReceipt,
    utcnow,
)

# python-telegram-bot 22 gives RetryAfter.retry_after as a timedelta when this is set and
# warns otherwise (the int form is deprecated); opt in unless the operator chose already.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import Bot, ReplyParameters, Update  # noqa: E402
from telegram import Message as TgMessage  # noqa: E402
from telegram.error import (  # noqa: E402
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest  # noqa: E402

log = logging.getLogger("crocevia.telegram")

DEFAULT_API = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "edited_message")
MAX_TEXT = 4096  # characters per Telegram message
MAX_DOWNLOAD = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB
MAX_WAIT_INSIDE = 60.0  # longest 429 wait taken inside one send
START_TTL = timedelta(days=7)
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(ValueError):
    """The inbox's Telegram settings are incomplete or name a missing secret."""


def _read_secret(settings: Mapping[str, Any], name: str) -> str | None:
    """The secret named by settings `{name}_env` (a variable) or `{name}_file` (a path)."""
    env = settings.get(f"{name}_env")
    if env and os.environ.get(str(env)):
        return os.environ[str(env)].strip()
    path = settings.get(f"{name}_file")
    if path:
        try:
            return Path(str(path)).read_text().strip() or None
        except OSError as exc:
            raise ConfigError(f"cannot read {name}_file {path}: {exc.strerror}") from None
    return None


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    token: str | None
    webhook_secret: str | None
    api_base_url: str = DEFAULT_API
    public_url: str | None = None
    poll_timeout: int = 25
    problem: str | None = None  # why the settings could not be read

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TelegramConfig:
        return cls(
            token=_read_secret(settings, "bot_token"),
            webhook_secret=_read_secret(settings, "webhook_secret"),
            api_base_url=str(settings.get("api_base_url") or DEFAULT_API).rstrip("/"),
            public_url=str(settings["public_url"]).rstrip("/")
            if settings.get("public_url")
            else None,
            poll_timeout=int(settings.get("poll_timeout", 25)),
        )


_BotAndRequests = tuple[Bot, tuple[HTTPXRequest, HTTPXRequest]]


def _new_bot(config: TelegramConfig, *, poll_timeout: float = 0) -> _BotAndRequests:
    """A Bot on the configured API server, with the HTTP clients `_close_bot` closes. No
    getMe is made: use `async with bot` for that."""
    if not config.token:
        raise ConfigError("no bot token: set bot_token_env or bot_token_file in the settings")
    requests = (
        HTTPXRequest(connection_pool_size=8, read_timeout=15.0, media_write_timeout=60.0),
        HTTPXRequest(connection_pool_size=1, read_timeout=poll_timeout + 10.0),
    )
    bot = Bot(
        config.token,
        base_url=f"{config.api_base_url}/bot",
        base_file_url=f"{config.api_base_url}/file/bot",
        request=requests[0],
        get_updates_request=requests[1],
    )
    return bot, requests


async def _close_bot(made: _BotAndRequests) -> None:
    for request in made[1]:
        await request.shutdown()


@contextlib.asynccontextmanager
async def open_bot(config: TelegramConfig, *, poll_timeout: float = 0) -> AsyncIterator[Bot]:
    """A Bot for this block only; its HTTP clients are closed on the way out."""
    made = _new_bot(config, poll_timeout=poll_timeout)
    try:
        yield made[0]
    finally:
        await _close_bot(made)


def retry_after_seconds(exc: RetryAfter) -> float:
    """RetryAfter.retry_after is a timedelta (PTB_TIMEDELTA) or, in older setups, seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# -- /start links ----------------------------------------------------------------------


def _link_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"crocevia telegram start links", "sha256").digest()


def _link_sig(secret_key: str, inbox_id: int, contact_id: int, expires: int) -> str:
    mac = hmac.new(
        _link_key(secret_key), f"{inbox_id}/{contact_id}/{expires}".encode(), hashlib.sha256
    )
    return base64.urlsafe_b64encode(mac.digest()).decode()[:22]


def start_token(
    secret_key: str, inbox_id: int, contact_id: int, *, ttl: timedelta = START_TTL
) -> str:
    """A `/start` payload (at most 64 characters of A-Z a-z 0-9 _ -) that links whoever
    opens it, within `ttl`, in this inbox's bot, to `contact_id`."""
    expires = int(time.time() + ttl.total_seconds())
    return f"{contact_id}-{expires:x}-{_link_sig(secret_key, inbox_id, contact_id, expires)}"


def read_start_token(secret_key: str, inbox_id: int, token: str) -> int | None:
    """The contact id that `token` links to, or None (malformed, forged or expired)."""
    parts = token.split("-", 2)
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    try:
        contact_id, expires = int(parts[0]), int(parts[1], 16)
    except ValueError:
        return None
    good = _link_sig(secret_key, inbox_id, contact_id, expires)
    if not hmac.compare_digest(good.encode(), parts[2].encode()) or expires < time.time():
        return None
    return contact_id


def deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"


# -- the connector ---------------------------------------------------------------------


def _sender(user: Any) -> Sender:
    return Sender(external_id=str(user.id), name=user.full_name or None, handle=user.username)


def _file(kind: str, obj: Any, name: str, content_type: str | None = None) -> Attachment:
    """A file still on Telegram's side; `download` fetches it."""
    return Attachment(
        kind=kind, name=name, content_type=content_type, size=obj.file_size,
        data={"file_id": obj.file_id, "file_unique_id": obj.file_unique_id},
    )  # fmt: skip


def _attachments(m: TgMessage) -> list[Attachment]:
    found: list[Attachment] = []
    if m.photo:
        big = max(m.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        found.append(_file("image", big, f"photo-{big.file_unique_id}.jpg", "image/jpeg"))
    if m.document:
        d = m.document
        found.append(_file("file", d, d.file_name or "document", d.mime_type))
    if m.voice:
        v = m.voice
        found.append(_file("audio", v, f"voice-{v.file_unique_id}.ogg", v.mime_type))
    if m.audio:
        a = m.audio
        found.append(_file("audio", a, a.file_name or "audio", a.mime_type))
    if m.video:
        found.append(_file("video", m.video, m.video.file_name or "video.mp4", m.video.mime_type))
    if m.video_note:
        n = m.video_note
        found.append(_file("video", n, f"video-note-{n.file_unique_id}.mp4", "video/mp4"))
    if m.animation:
        gif = m.animation
        found.append(_file("video", gif, gif.file_name or "animation.mp4", gif.mime_type))
    if m.sticker and not m.sticker.is_animated:  # .tgs (Lottie) is no file a browser shows
        st = m.sticker
        webm = bool(st.is_video)
        found.append(_file("video" if webm else "image", st,
                           f"sticker-{st.file_unique_id}.{'webm' if webm else 'webp'}",
                           "video/webm" if webm else "image/webp"))  # fmt: skip
    if m.location:
        lat, lon = m.location.latitude, m.location.longitude
        found.append(
            Attachment(
                kind="location", name="location",
                url=f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=16/{lat}/{lon}",
                data={"latitude": lat, "longitude": lon},
            )
        )  # fmt: skip
    if m.contact:
        c = m.contact
        data = {"phone_number": c.phone_number, "first_name": c.first_name,
                "last_name": c.last_name, "user_id": c.user_id, "vcard": c.vcard}  # fmt: skip
        name = " ".join(p for p in (c.first_name, c.last_name) if p)
        found.append(
            Attachment(kind="contact", name=name, data={k: v for k, v in data.items() if v})
        )
    return found


def _described(m: TgMessage) -> str:
    """What a message without text is, in words an agent reads at a glance: a sticker, a
    video note, a poll with its options, a die's throw, a shared story."""
    if m.sticker:
        return f"[sticker {m.sticker.emoji or ''}]".replace(" ]", "]")
    if m.video_note:
        d = m.video_note.duration  # a timedelta in python-telegram-bot 22, seconds before
        seconds = int(d.total_seconds()) if hasattr(d, "total_seconds") else int(d)
        return f"[video note, {seconds} s]"
    if m.animation:
        return "[GIF]"
    if m.poll:
        options = [f"• {o.text}" for o in m.poll.options or ()]
        return "\n".join([f"📊 {m.poll.question}", *options])
    if m.dice:
        return f"{m.dice.emoji} {m.dice.value}"
    if m.story:
        who = m.story.chat.username or m.story.chat.title or m.story.chat.first_name or ""
        return f"[story shared{' from @' + who if m.story.chat.username else ''}]"
    return ""


def _chunks(text: str, size: int = MAX_TEXT) -> list[str]:
    """Split at a line break (else a space) before `size` characters where there is one."""
    parts: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut < size // 2:
            cut = text.rfind(" ", 0, size)
        if cut < size // 2:
            cut = size
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n ") if cut < size else text[cut:]
    if text:
        parts.append(text)
    return parts


class TelegramConnector:
    channel = Channel.TELEGRAM.value

    def __init__(
        self, inbox_id: int, config: TelegramConfig, *, keep_connections: bool = False
    ) -> None:
        """`keep_connections`: one Bot (and its HTTP pool) for every call, which the owner
        closes with `aclose`; else a Bot per call."""
        self.inbox_id = inbox_id
        self.config = config
        self._kept = (
            KeptClient(lambda: _new_bot(self.config), _close_bot) if keep_connections else None
        )

    @contextlib.asynccontextmanager
    async def _bot(self) -> AsyncIterator[Bot]:
        """The kept Bot, or one for this block only."""
        if self._kept is None:
            async with open_bot(self.config) as bot:
                yield bot
        else:
            async with self._kept.use() as made:
                yield made[0]

    async def aclose(self) -> None:
        if self._kept is not None:
            await self._kept.aclose()

    @classmethod
    def for_inbox(cls, inbox: InboxRecord, *, keep_connections: bool = False) -> TelegramConnector:
        try:
            config = TelegramConfig.from_settings(inbox.settings or {})
        except ConfigError as exc:  # refuse webhooks and fail sends, with the reason
            log.error("telegram_config", extra={"inbox": inbox.id, "error": str(exc)})
            config = TelegramConfig(token=None, webhook_secret=None, problem=str(exc))
        return cls(inbox.id, config, keep_connections=keep_connections)

    def fetch_policy(self) -> safe_fetch.FetchPolicy:
        """What file downloads may reach: Telegram's API host, or the configured one."""
        return safe_fetch.FetchPolicy.for_api(
            DEFAULT_API, self.config.api_base_url, max_bytes=MAX_DOWNLOAD, timeout=60.0
        )

    # -- inbound -----------------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        expected = self.config.webhook_secret
        if not expected:
            raise VerificationError("the inbox has no webhook secret; every request is refused")
        got = headers.get(SECRET_HEADER) or ""
        if not hmac.compare_digest(got.encode(), expected.encode()):
            raise VerificationError(f"wrong or missing {SECRET_HEADER}")

    def parse(self, payload: Any) -> list[InboundMessage]:
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            raise ParseError("a Telegram update has an integer update_id")
        try:
            update = Update.de_json(payload, None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ParseError(f"malformed update: {exc!r}") from None
        m = update.message or update.edited_message
        if m is None or m.from_user is None or m.chat.type != "private" or m.from_user.is_bot:
            return []  # not a customer writing to the bot: nothing to store, still 200
        # The library keeps whatever type a field came with; the Bot API sends text.
        for name in ("text", "caption"):
            if not isinstance(getattr(m, name), str | None):
                raise ParseError(f"message.{name} must be a string")
        text = m.text or m.caption or _described(m)
        raw: dict[str, Any] = {"update_id": update.update_id}
        if m.text and (m.text == "/start" or m.text.startswith("/start ")):
            payload_text = m.text.removeprefix("/start").strip()
            if payload_text:
                raw["start_payload"] = payload_text
            text = "/start"  # the token stays out of the stored conversation
        reply = m.reply_to_message
        return [
            InboundMessage(
                channel=Channel.TELEGRAM,
                inbox_id=self.inbox_id,
                external_id=f"{m.chat.id}:{m.message_id}",
                sender=_sender(m.from_user),
                text=text,
                sent_at=m.date,
                attachments=tuple(_attachments(m)),
                reply_to=f"{m.chat.id}:{reply.message_id}" if reply else None,
                edited=update.edited_message is not None,
                raw=raw,
            )
        ]

    # -- before storing (inbox/preparation.py) ---------------------------------------------

    def linked_contact(self, item: InboundMessage, secret_key: str) -> int | None:
        """The contact a `/start` payload links to, when it is a valid token of this inbox."""
        token = item.raw.get("start_payload")
        if not token:
            return None
        contact_id = read_start_token(secret_key, self.inbox_id, str(token))
        if contact_id is None:
            log.info("telegram_start_refused", extra={"inbox": self.inbox_id})
        return contact_id

    def waiting_download(self, attachment: Attachment) -> bool:
        return bool(attachment.data.get("file_id")) and not attachment.url

    async def download(self, attachments: Sequence[Attachment]) -> list[Downloaded | Attachment]:
        """The files' bytes, through one bot. A file Telegram will not give (too big, gone)
        stays a reference with the reason; a network failure or 429 raises."""
        async with self._bot() as bot:
            return [await self._fetch(bot, a) for a in attachments]

    async def _fetch(self, bot: Bot, a: Attachment) -> Downloaded | Attachment:
        if a.size is not None and a.size > MAX_DOWNLOAD:
            return replace(a, data={**a.data, "error": "larger than the Bot API serves (20 MB)"})
        try:
            remote = await bot.get_file(str(a.data["file_id"]))
        except BadRequest as exc:
            log.warning("telegram_file_refused", extra={"inbox": self.inbox_id, "error": str(exc)})
            return replace(a, data={**a.data, "error": exc.message})
        # Only over HTTP(S) from the Bot API's own host (connectors/safe_fetch.py): never a
        # local path that python-telegram-bot would read from our disk, never an
        # internal address, never more than MAX_DOWNLOAD bytes.
        try:
            data, _type = await safe_fetch.fetch(remote.file_path or "", self.fetch_policy())
        except (safe_fetch.UnsafeURL, safe_fetch.TooLarge) as exc:
            log.warning("telegram_file_unsafe", extra={"inbox": self.inbox_id, "error": str(exc)})
            return replace(a, data={**a.data, "error": f"file not downloaded: {exc}"})
        except safe_fetch.FetchFailed as exc:
            raise NetworkError(f"file download failed: {exc}") from None
        return Downloaded(data, a.name or "file")

    # -- outbound ----------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SentReceipt:
        try:
            chat_id = int(message.recipient_external_id)
        except ValueError:
            raise DeliveryError(
                f"not a Telegram chat id: {message.recipient_external_id!r}", retryable=False
            ) from None
        if not self.config.token:
            reason = self.config.problem or "the inbox has no bot token configured"
            raise DeliveryError(reason, retryable=False)
        reply = None
        if message.reply_to_external_id and ":" in message.reply_to_external_id:
            with contextlib.suppress(ValueError):
                reply = ReplyParameters(
                    int(message.reply_to_external_id.rsplit(":", 1)[1]),
                    allow_sending_without_reply=True,
                )
        async with self._bot() as bot:
            steps: list[Callable[[], Awaitable[TgMessage]]] = []
            for part in _chunks(message.text):
                steps.append(
                    partial(bot.send_message, chat_id, part, parse_mode=None,
                            reply_parameters=reply)
                )  # fmt: skip
            steps.extend(partial(self._send_file, bot, chat_id, a) for a in message.attachments)
            if not steps:
                raise DeliveryError("nothing to send: no text and no attachments", retryable=False)
            first: TgMessage | None = None
            for step in steps:
                sent = await self._call(step, nothing_sent_yet=first is None)
                first = first or sent
        assert first is not None
        return SentReceipt(external_id=f"{chat_id}:{first.message_id}", sent_at=utcnow())

    async def _call(
        self, step: Callable[[], Awaitable[TgMessage]], *, nothing_sent_yet: bool
    ) -> TgMessage:
        """One Bot API call, its failures as DeliveryError. A 429 after part of the reply
        went out is waited out here (the worker would send that part again)."""
        while True:
            try:
                return await step()
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if nothing_sent_yet or wait > MAX_WAIT_INSIDE:
                    raise DeliveryError(
                        f"telegram: {exc.message}", retryable=True, retry_after=wait
                    ) from None
                await asyncio.sleep(wait)
            except (Forbidden, BadRequest, InvalidToken, ChatMigrated) as exc:
                raise DeliveryError(f"telegram: {exc.message}", retryable=False) from None
            except TelegramError as exc:  # network, timeout, 5xx
                raise DeliveryError(f"telegram: {exc.message}", retryable=True) from None

    async def _send_file(self, bot: Bot, chat_id: int, a: Attachment) -> TgMessage:
        data = self._load_file(a)
        name = a.name or "file"
        if data is None:
            raise DeliveryError(f"attachment {name!r} has no file to send", retryable=False)
        image = a.kind == "image" and (a.content_type or "").startswith("image/")
        if image and (a.size or 0) <= 10 * 1024 * 1024:
            return await bot.send_photo(chat_id, data, filename=name)
        return await bot.send_document(chat_id, data, filename=name)

    def _load_file(self, a: Attachment) -> bytes | str | None:
        """The bytes of one of our stored files (read by the inbox), or a URL Telegram can
        fetch itself."""
        if a.content is not None:
            return a.content
        if a.url and a.url.startswith("/api/files/") and self.config.public_url:
            return f"{self.config.public_url}{a.url}"
        if a.url and a.url.startswith(("https://", "http://")):
            return a.url
        return None

    # -- setup -------------------------------------------------------------------------

    def webhook_url(self, public_url: str | None = None) -> str:
        base = self.config.public_url or public_url
        if not base:
            raise ConfigError("no public_url in the inbox settings or CROCEVIA_PUBLIC_URL")
        return f"{base.rstrip('/')}/webhooks/telegram/{self.inbox_id}"

    async def set_webhook(self, public_url: str | None = None) -> str:
        """Tell Telegram to push this inbox's updates to us, with the secret token."""
        secret = self.config.webhook_secret
        if not secret or not _SECRET_TOKEN.match(secret):
            raise ConfigError(
                "the webhook secret (webhook_secret_env / webhook_secret_file) must be 1-256 "
                "characters of A-Z, a-z, 0-9, _ and -"
            )
        url = self.webhook_url(public_url)
        async with open_bot(self.config) as bot:
            await bot.set_webhook(url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES))
        return url
