"""The API channel: a business's own app (mobile app, marketplace, kiosk) as a channel.

Inbound: the app POSTs to `/webhooks/api/{inbox}` with `Authorization: Bearer <the
inbox's api_token>` and a JSON body of up to 100 messages:

    {"messages": [{"id": "m-1001",
                   "contact": {"id": "user-42", "name": "Giulia Rossi",
                               "email": "giulia@example.com", "phone": "+39 333 1234567"},
                   "text": "Il mio ordine non è arrivato",
                   "sent_at": "2026-12-02T10:00:00Z",
                   "attachments": [{"url": "https://…/foto.jpg", "name": "foto.jpg",
                                    "content_type": "image/jpeg"}]}]}

`id` is the app's own message id (a repeat stores nothing new), `contact.id` the app's
user id (one contact per user of this inbox's app, joined with others by email or phone
as on every channel); `text` or `attachments` is needed, the rest is optional. A body that is not
that is refused whole with a 400 that names the message and field: nothing is stored.

Outbound: every reply an agent writes is POSTed to the inbox's `reply_url`, signed with
the same token (connectors/signed_post.py: `X-Crocevia-Timestamp`, `X-Crocevia-Signature`):

    {"id": "812", "conversation_id": 57, "contact_id": "user-42", "text": "…",
     "attachments": [...]}

A 2xx answer delivers it; its JSON `{"id": "…"}`, when given, becomes the reply's id on
the app's side. 429 and 5xx answers (and timeouts, refused connections) are tried again
with backoff, honouring Retry-After; any other answer fails the reply, which the agent
sees and may retry.

Settings: `reply_url`, and the secret `api_token` (`api_token_env` or `api_token_file`,
see connectors.secrets).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from connectors import signed_post
from connectors.base import ParseError, VerificationError
from connectors.safe_fetch import FetchFailed, UnsafeURL
from connectors.secrets import read_secret
from inbox.types import (
    Attachment,
    Channel,
    DeliveryError,
    InboundMessage,
    InboxRecord,
    OutboundMessage,
    Sender,
    SentReceipt,
    utcnow,
)

MAX_MESSAGES = 100
MAX_ID = 200
_CONTACT_FIELDS = ("name", "email", "phone", "avatar_url")


@dataclass(frozen=True, slots=True)
class ApiConfig:
    api_token: str | None
    reply_url: str | None

    @classmethod
    def from_inbox(cls, inbox: InboxRecord) -> ApiConfig:
        settings = inbox.settings or {}
        url = settings.get("reply_url")
        return cls(read_secret(settings, "api_token"), url if isinstance(url, str) else None)


def _text_field(item: Mapping[str, Any], key: str, where: str, limit: int, *,
                required: bool = False) -> str | None:  # fmt: skip
    value = item.get(key)
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ParseError(f"{where}.{key}: text of 1 to {limit} characters")
    return value


def _sent_at(item: Mapping[str, Any], where: str) -> datetime | None:
    value = item.get("sent_at")
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise ParseError(
            f"{where}.sent_at: an ISO 8601 time such as 2026-12-02T10:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise ParseError(f"{where}.sent_at: give the time zone (Z or +01:00)")
    return when


def _attachments(item: Mapping[str, Any], where: str) -> tuple[Attachment, ...]:
    raw = item.get("attachments") or []
    if not isinstance(raw, list) or len(raw) > 10:
        raise ParseError(f"{where}.attachments: a list of up to 10 files")
    found = []
    for n, a in enumerate(raw):
        at = f"{where}.attachments[{n}]"
        if not isinstance(a, dict):
            raise ParseError(f"{at}: an object with a url")
        url = _text_field(a, "url", at, 2000, required=True) or ""
        if not url.lower().startswith(("https://", "http://")):
            raise ParseError(f"{at}.url: an http(s) URL")
        kind = "image" if str(a.get("content_type") or "").startswith("image/") else "file"
        found.append(Attachment(kind=kind, url=url, name=_text_field(a, "name", at, 255),
                                content_type=_text_field(a, "content_type", at, 100)))  # fmt: skip
    return tuple(found)


class ApiConnector:
    channel = Channel.API.value

    def __init__(self, inbox_id: int, config: ApiConfig,
                 http: httpx.AsyncClient | None = None) -> None:  # fmt: skip
        self.inbox_id = inbox_id
        self.config = config
        self.http = http

    @classmethod
    def for_inbox(cls, inbox: InboxRecord) -> ApiConnector:
        return cls(inbox.id, ApiConfig.from_inbox(inbox))

    def user_of(self, external_id: str) -> str:
        """The app's user id in our identity id (`<inbox>:<user>`: two apps' user 42 are
        two people)."""
        prefix = f"{self.inbox_id}:"
        return external_id.removeprefix(prefix)

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        token = self.config.api_token
        if not token:
            raise VerificationError("no api_token configured for this inbox")
        given = headers.get("authorization") or headers.get("Authorization") or ""
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise VerificationError("no Authorization: Bearer header")
        if not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise VerificationError("wrong api token")

    def parse(self, payload: Any) -> list[InboundMessage]:
        if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
            raise ParseError('expected {"messages": [...]}')
        items = payload["messages"]
        if not 1 <= len(items) <= MAX_MESSAGES:
            raise ParseError(f"messages: 1 to {MAX_MESSAGES} of them")
        return [self._message(item, f"messages[{n}]") for n, item in enumerate(items)]

    def _message(self, item: Any, where: str) -> InboundMessage:
        if not isinstance(item, dict):
            raise ParseError(f"{where}: an object")
        external_id = _text_field(item, "id", where, MAX_ID, required=True) or ""
        contact = item.get("contact")
        if not isinstance(contact, dict):
            raise ParseError(f"{where}.contact: an object with the app's user id")
        at = f"{where}.contact"
        user = _text_field(contact, "id", at, MAX_ID, required=True) or ""
        fields = {k: _text_field(contact, k, at, 1000) for k in _CONTACT_FIELDS}
        text = item.get("text", "")
        if not isinstance(text, str):
            raise ParseError(f"{where}.text: text")
        attachments = _attachments(item, where)
        if not text.strip() and not attachments:
            raise ParseError(f"{where}: text or attachments")
        return InboundMessage(
            channel=Channel.API, inbox_id=self.inbox_id, external_id=external_id,
            sender=Sender(external_id=f"{self.inbox_id}:{user}", **fields), text=text,
            sent_at=_sent_at(item, where), attachments=attachments,
            reply_to=_text_field(item, "reply_to", where, MAX_ID), raw={"id": external_id},
        )  # fmt: skip

    async def send(self, message: OutboundMessage) -> SentReceipt:
        token, url = self.config.api_token, self.config.reply_url
        if not token or not url:
            raise DeliveryError("this API inbox has no reply_url or api_token", retryable=False)
        body = json.dumps(
            {"id": str(message.message_id), "conversation_id": message.conversation_id,
             "contact_id": self.user_of(message.recipient_external_id), "text": message.text,
             "attachments": [a.as_dict() for a in message.attachments]},
            separators=(",", ":"), ensure_ascii=False,
        ).encode()  # fmt: skip
        headers = {"Content-Type": "application/json", "User-Agent": "Crocevia-API-Channel/1",
                   **signed_post.signed_headers(token, body)}  # fmt: skip
        try:
            if self.http is not None:
                answer = await self._post(self.http, url, body, headers)
            else:
                async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as http:
                    answer = await self._post(http, url, body, headers)
        except UnsafeURL as exc:
            raise DeliveryError(f"reply_url refused: {exc}", retryable=False) from None
        except (httpx.HTTPError, FetchFailed, OSError) as exc:
            raise DeliveryError(f"the app is unreachable: {type(exc).__name__}",
                                retryable=True) from None  # fmt: skip
        return self._receipt(message, answer)

    @staticmethod
    async def _post(http: httpx.AsyncClient, url: str, body: bytes,
                    headers: dict[str, str]) -> httpx.Response:  # fmt: skip
        return await signed_post.post(http, url, body, headers,
                                      allow_private=signed_post.private_allowed())  # fmt: skip

    @staticmethod
    def _receipt(message: OutboundMessage, answer: httpx.Response) -> SentReceipt:
        code = answer.status_code
        if code == 429 or code >= 500:
            after = answer.headers.get("retry-after", "")
            raise DeliveryError(f"the app answered {code}", retryable=True,
                                retry_after=float(after) if after.isdigit() else None)  # fmt: skip
        if not answer.is_success:
            raise DeliveryError(f"the app refused the reply ({code}): {answer.text[:200]}",
                                retryable=False)  # fmt: skip
        external_id = f"crocevia:{message.message_id}"
        try:
            given = answer.json().get("id") if answer.content else None
        except (ValueError, AttributeError):
            given = None
        if isinstance(given, str | int) and not isinstance(given, bool) and str(given).strip():
            external_id = str(given)[:MAX_ID]
        return SentReceipt(external_id=external_id, sent_at=utcnow())
