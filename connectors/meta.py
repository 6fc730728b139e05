"""Meta's messaging platforms as channels: Messenger, Instagram and WhatsApp Cloud API.

One webhook, `/webhooks/meta/{inbox}`, serves the three: a GET answers Meta's
verification (`hub.mode=subscribe`, our `hub.verify_token`, echo `hub.challenge`);
every POST must carry `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body
under the app secret>`, and a forged one is refused (401, logged by the gateway).

Inbound: text, images, video, audio, files, stickers, locations, contacts and
reactions, as `InboundMessage`s whose external id is Meta's own message id (`mid`,
`wamid`; a Messenger/Instagram reaction, which has none, gets
`reaction:{mid}:{sender}:{timestamp}`), so a delivery Meta retries stores nothing new.
Echoes of our own messages are skipped. WhatsApp senders carry their number as the
phone (E.164, with +), so they join a contact already known by that phone.
WhatsApp's `statuses` (sent, delivered, read, failed) and Messenger's `delivery`
receipts come out of `parse_statuses` and move the delivery state of our replies.
Before storing (inbox/preparation.py), `profiles` asks the Graph API for the name and
picture of Messenger and Instagram senders we do not know yet, and `download` fetches
the bytes of WhatsApp media, which arrive as ids.

Outbound goes through the Graph API's `/{id}/messages` with httpx. The 24-hour rule
is enforced when the agent writes the reply (`inbox.reply_window`); a WhatsApp reply
written as `/template NAME [LANGUAGE] [| param | ...]` goes as that approved template.
Rate limits (429, codes 4, 17, 32, 613, 130429, ...) and 5xx are retryable; Meta's
"outside the allowed window" answers fail for good with a message the agent sees.

Settings: `app_secret`, `verify_token` and `access_token` (each `{name}_env` or
`{name}_file`, see connectors.secrets); the account: `page_id` (Messenger),
`instagram_account_id` (Instagram) or `phone_number_id` (WhatsApp); `api_base_url`
(default https://graph.facebook.com) and `api_version`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors import safe_fetch
from connectors.base import ParseError, VerificationError
from connectors.kept_client import KeptClient
from connectors.secrets import read_secret
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

log = logging.getLogger("crocevia.meta")

GRAPH_API = "https://graph.facebook.com"
API_VERSION = "v23.0"
SIGNATURE_HEADER = "x-hub-signature-256"
GRAPH_ID = re.compile(r"[0-9]{1,40}")
# Where the Graph API's media URLs point (WhatsApp Cloud API), and the largest file taken.
MEDIA_HOSTS = ("lookaside.fbsbx.com",)
MAX_MEDIA = 100 * 1024 * 1024
META_CHANNELS = frozenset({Channel.MESSENGER, Channel.INSTAGRAM, Channel.WHATSAPP})
OBJECTS = {
    Channel.MESSENGER: "page",
    Channel.INSTAGRAM: "instagram",
    Channel.WHATSAPP: "whatsapp_business_account",
}
ACCOUNT_SETTING = {
    Channel.MESSENGER: "page_id",
    Channel.INSTAGRAM: "instagram_account_id",
    Channel.WHATSAPP: "phone_number_id",
}
MAX_TEXT = {Channel.MESSENGER: 2000, Channel.INSTAGRAM: 1000, Channel.WHATSAPP: 4096}
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80006, 80007, 130429, 131048, 131056})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})
#: Meta's "outside the customer-service window" answers (WhatsApp, Messenger, Instagram).
WINDOW_CODES = frozenset({131047, 2018278, 2534022})
STATUSES = frozenset({"sent", "delivered", "read", "failed"})
WA_MEDIA = {"image": "image", "video": "video", "audio": "audio", "document": "file",
            "sticker": "sticker"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery state Meta reports for one of our messages (gateway/statuses.py)."""

    external_id: str
    status: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MetaConfig:
    channel: Channel
    account_id: str | None
    app_secret: str | None
    verify_token: str | None
    access_token: str | None
    api_base_url: str = GRAPH_API
    api_version: str = API_VERSION

    @classmethod
    def from_inbox(cls, inbox: InboxRecord) -> MetaConfig:
        channel = Channel(inbox.channel)
        if channel not in META_CHANNELS:
            raise ValueError(f"inbox {inbox.id} is a {inbox.channel} inbox, not a Meta one")
        s = inbox.settings or {}
        account = s.get(ACCOUNT_SETTING[channel])
        return cls(
            channel=channel,
            account_id=str(account) if account else None,
            app_secret=read_secret(s, "app_secret"),
            verify_token=read_secret(s, "verify_token"),
            access_token=read_secret(s, "access_token"),
            api_base_url=str(s.get("api_base_url") or GRAPH_API).rstrip("/"),
            api_version=str(s.get("api_version") or API_VERSION),
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _at(seconds: Any, *, ms: bool = False) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(seconds) / (1000 if ms else 1), UTC)
    except (TypeError, ValueError):
        return None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _flow_reply(reply: dict[str, Any]) -> tuple[str, list[Attachment]]:
    """A WhatsApp Flow's answer: its form's fields as "label: value" lines (the agent reads
    what the customer filled in), the whole response kept as data."""
    try:
        answers = json.loads(reply.get("response_json") or "{}")
    except (TypeError, ValueError):
        answers = {}
    answers = answers if isinstance(answers, dict) else {}
    lines = [f"{str(k).replace('_', ' ')}: {v}" for k, v in answers.items() if k != "flow_token"]
    title = str(reply.get("body") or reply.get("name") or "Flow")
    text = "\n".join([f"📋 {title}", *lines[:30]])
    return text, [
        Attachment(kind="flow_reply", data={"name": reply.get("name"), "response": answers})
    ]


def _graph_error(response: httpx.Response) -> tuple[int | None, int | None, str]:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return None, None, response.text[:200]
    return error.get("code"), error.get("error_subcode"), str(error.get("message") or "")


async def _close_http(http: httpx.AsyncClient) -> None:
    await http.aclose()


class MetaConnector:
    def __init__(
        self, inbox_id: int, config: MetaConfig, *, keep_connections: bool = False
    ) -> None:
        """`keep_connections`: one Graph API client for every call (its owner calls
        `aclose`); else a client per call."""
        self.inbox_id = inbox_id
        self.config = config
        self.channel = config.channel.value
        self._kept = KeptClient(self._new_http, _close_http) if keep_connections else None

    @classmethod
    def for_inbox(cls, inbox: InboxRecord, *, keep_connections: bool = False) -> MetaConnector:
        return cls(inbox.id, MetaConfig.from_inbox(inbox), keep_connections=keep_connections)

    @property
    def keeps_open_connections(self) -> bool:
        return self._kept is not None and self._kept.open

    async def aclose(self) -> None:
        if self._kept is not None:
            await self._kept.aclose()

    # -- webhook verification -------------------------------------------------------------

    def answer_challenge(self, query: Mapping[str, str]) -> str:
        """Meta's subscription check: echo `hub.challenge` when the verify token is ours."""
        token = self.config.verify_token
        given = query.get("hub.verify_token") or ""
        if query.get("hub.mode") != "subscribe" or not token:
            raise VerificationError("not a subscription request, or no verify token configured")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise VerificationError("wrong hub.verify_token")
        return query.get("hub.challenge") or ""

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        if not self.config.app_secret:
            raise VerificationError("no app secret configured for this inbox")
        given = _header(headers, SIGNATURE_HEADER) or ""
        expected = "sha256=" + hmac.new(self.config.app_secret.encode(), body,
                                        hashlib.sha256).hexdigest()  # fmt: skip
        if not given:
            raise VerificationError(f"no {SIGNATURE_HEADER} header")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise VerificationError("X-Hub-Signature-256 does not match the body")

    # -- inbound ------------------------------------------------------------------------------

    def _entries(self, payload: Any) -> list[dict[str, Any]]:
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            raise ParseError("expected an object with an 'entry' list")
        if payload.get("object") != OBJECTS[self.config.channel]:
            log.warning("meta_other_object", extra={"inbox": self.inbox_id,
                                                    "object": payload.get("object")})  # fmt: skip
            return []
        return [e for e in payload["entry"] if isinstance(e, dict)]

    def parse(self, payload: Any) -> list[InboundMessage]:
        """Every event of a delivery that can be read. One event we cannot read (a WhatsApp
        message without `from`, an opt-in without `sender`) is logged and skipped: refusing
        the whole delivery would make Meta redeliver, and drop, its good neighbours too."""
        try:
            if self.config.channel is Channel.WHATSAPP:
                return [m for value in self._wa_values(payload) for m in self._wa_messages(value)]
            return [
                m
                for entry in self._entries(payload)
                if self._ours(entry.get("id"))
                for ev in _listed(entry.get("messaging"))
                if (m := self._one(self._messaging, ev)) is not None
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ParseError(f"unexpected {self.channel} payload: {exc!r}") from None

    def _one(
        self, read: Callable[[Any], InboundMessage | None], event: Any
    ) -> InboundMessage | None:
        try:
            return read(event)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            log.warning("meta_event_skipped", extra={"inbox": self.inbox_id, "channel": self.channel,
                                                     "error": repr(exc)[:300]})  # fmt: skip
            return None

    def _ours(self, account: Any) -> bool:
        if self.config.account_id is None or str(account) == self.config.account_id:
            return True
        log.warning("meta_other_account", extra={"inbox": self.inbox_id, "account": account})
        return False

    def _message(self, external_id: str, sender: Sender, text: str, sent_at: datetime | None,
                 attachments: Sequence[Attachment] = (), reply_to: str | None = None,
                 ) -> InboundMessage:  # fmt: skip
        return InboundMessage(
            channel=self.config.channel, inbox_id=self.inbox_id, external_id=external_id,
            sender=sender, text=text, sent_at=sent_at or utcnow(),
            attachments=tuple(attachments), reply_to=reply_to,
        )  # fmt: skip

    # Messenger and Instagram ------------------------------------------------------------------

    def _messaging(self, ev: dict[str, Any]) -> InboundMessage | None:
        sender = Sender(str(ev["sender"]["id"]))
        at = _at(ev.get("timestamp"), ms=True)
        if "reaction" in ev:
            r = ev["reaction"]
            emoji = (r.get("emoji") or "") if r.get("action", "react") == "react" else ""
            data = {"emoji": r.get("emoji"), "reaction": r.get("reaction"),
                    "action": r.get("action", "react"), "message_id": r.get("mid")}  # fmt: skip
            return self._message(
                f"reaction:{r.get('mid')}:{sender.external_id}:{ev.get('timestamp')}", sender,
                emoji, at, [Attachment(kind="reaction", data=data)], reply_to=r.get("mid"),
            )  # fmt: skip
        msg = ev.get("message")
        if not isinstance(msg, dict) or msg.get("is_echo") or msg.get("is_deleted"):
            return None  # our own message echoed, a deletion, or a receipt (parse_statuses)
        attachments = [self._attachment(a) for a in msg.get("attachments") or []]
        reply_to = (msg.get("reply_to") or {}).get("mid")
        return self._message(str(msg["mid"]), sender, str(msg.get("text") or ""), at,
                             attachments, reply_to)  # fmt: skip

    @staticmethod
    def _attachment(a: dict[str, Any]) -> Attachment:
        kind, payload = str(a.get("type") or "file"), a.get("payload") or {}
        if kind == "image" and payload.get("sticker_id"):
            return Attachment(kind="sticker", url=payload.get("url"),
                              data={"sticker_id": payload["sticker_id"]})  # fmt: skip
        if kind in ("image", "video", "audio", "file"):
            return Attachment(kind=kind, url=payload.get("url"))
        if kind == "location":
            coords = payload.get("coordinates") or {}
            return Attachment(kind="location", data={"latitude": coords.get("lat"),
                                                     "longitude": coords.get("long")})  # fmt: skip
        return Attachment(kind="file", url=payload.get("url"), data={"type": kind})

    # WhatsApp ------------------------------------------------------------------------------------

    def _wa_values(self, payload: Any) -> list[dict[str, Any]]:
        values = []
        for entry in self._entries(payload):
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                if change.get("field") != "messages":
                    continue
                if self._ours((value.get("metadata") or {}).get("phone_number_id")):
                    values.append(value)
        return values

    def _wa_messages(self, value: dict[str, Any]) -> list[InboundMessage]:
        names = {str(c.get("wa_id")): (c.get("profile") or {}).get("name")
                 for c in value.get("contacts") or []}  # fmt: skip
        return [
            item
            for m in _listed(value.get("messages"))
            if (item := self._one(lambda m: self._wa_message(m, names), m)) is not None
        ]

    def _wa_message(self, m: dict[str, Any], names: dict[str, Any]) -> InboundMessage | None:
        if not isinstance(m.get("from"), str | int) or not isinstance(m.get("id"), str):
            raise ValueError("a WhatsApp message has a 'from' and an 'id'")
        wa_id = str(m["from"])
        sender = Sender(wa_id, names.get(wa_id), phone=f"+{wa_id.lstrip('+')}")
        text, attachments = self._wa_content(m)
        if text is None:
            return None
        reply_to = (m.get("context") or {}).get("id")
        if m.get("type") == "reaction":
            reply_to = (m.get("reaction") or {}).get("message_id")
        return self._message(m["id"], sender, text, _at(m.get("timestamp")), attachments, reply_to)

    @staticmethod
    def _wa_content(m: dict[str, Any]) -> tuple[str | None, list[Attachment]]:
        kind = m.get("type")
        body = m.get(kind) if isinstance(kind, str) else None
        body = body if isinstance(body, dict) else {}
        if kind == "text":
            return str(body.get("body") or ""), []
        if kind in WA_MEDIA:
            data = {"media_id": body.get("id"), "sha256": body.get("sha256")}
            if kind == "sticker":
                data["animated"] = bool(body.get("animated"))
            return str(body.get("caption") or ""), [
                Attachment(kind=WA_MEDIA[kind], name=body.get("filename"),
                           content_type=body.get("mime_type"), data=data)
            ]  # fmt: skip
        if kind == "reaction":
            data = {"emoji": body.get("emoji"), "message_id": body.get("message_id")}
            return str(body.get("emoji") or ""), [Attachment(kind="reaction", data=data)]
        if kind == "location":
            return str(body.get("name") or ""), [Attachment(kind="location", data=dict(body))]
        if kind == "contacts":
            return "", [Attachment(kind="contact", data=c) for c in m.get("contacts") or []]
        if kind == "button":
            return str(body.get("text") or ""), []
        if kind == "interactive":
            if body.get("type") == "nfm_reply":
                return _flow_reply(body.get("nfm_reply") or {})
            reply = body.get("button_reply") or body.get("list_reply") or {}
            return str(reply.get("title") or ""), []
        if kind in ("system", "ephemeral", "request_welcome"):
            return None, []
        return f"[{kind} message]", []  # unsupported: the agent still sees that they wrote

    # -- statuses of our replies --------------------------------------------------------------

    def parse_statuses(self, payload: Any) -> list[StatusUpdate]:
        """WhatsApp `statuses` and Messenger/Instagram `delivery` receipts."""
        updates: list[StatusUpdate] = []
        try:
            if self.config.channel is Channel.WHATSAPP:
                for value in self._wa_values(payload):
                    for s in value.get("statuses") or []:
                        if s.get("status") not in STATUSES:
                            continue
                        errors = s.get("errors") or [{}]
                        error = errors[0].get("message") or errors[0].get("title")
                        updates.append(StatusUpdate(str(s["id"]), s["status"],
                                                    str(error) if error else None))  # fmt: skip
                return updates
            for entry in self._entries(payload):
                for ev in entry.get("messaging") or []:
                    for mid in (ev.get("delivery") or {}).get("mids") or []:
                        updates.append(StatusUpdate(str(mid), "delivered"))
        except (KeyError, TypeError, AttributeError, ParseError) as exc:
            log.warning("meta_bad_statuses", extra={"inbox": self.inbox_id, "error": repr(exc)})
        return updates

    # -- before storing (inbox/preparation.py) ---------------------------------------------

    async def profiles(self, external_ids: Sequence[str]) -> dict[str, Sender]:
        """Name and picture of Messenger and Instagram senders, from the Graph API; a
        failure leaves a sender nameless rather than refusing the delivery. WhatsApp
        messages carry the sender's profile name already."""
        if self.config.channel is Channel.WHATSAPP or not self.config.access_token:
            return {}
        # Graph ids are digits: anything else would change the request's path or query.
        asked = [u for u in external_ids if GRAPH_ID.fullmatch(u)]
        if not asked:
            return {}
        async with self._http() as http:
            return {user_id: await self._profile(http, user_id) for user_id in asked}

    def waiting_download(self, attachment: Attachment) -> bool:
        return (self.config.channel is Channel.WHATSAPP and bool(self.config.access_token)
                and bool(attachment.data.get("media_id")) and not attachment.url)  # fmt: skip

    async def download(self, attachments: Sequence[Attachment]) -> list[Downloaded | Attachment]:
        async with self._http() as http:
            return [await self._media(http, a) for a in attachments]

    async def _media(self, http: httpx.AsyncClient, a: Attachment) -> Downloaded | Attachment:
        """GET /{media-id} names a short-lived URL; GET that URL, with the same token, gives
        the bytes. A refused or oversize file stays a reference with the reason; a network
        failure raises, so that Meta delivers the webhook again."""
        media_id = str(a.data.get("media_id") or "")
        if not GRAPH_ID.fullmatch(media_id):
            return replace(a, data={**a.data, "error": "not a Graph media id"})
        try:
            r = await http.get(f"/{media_id}")
        except httpx.HTTPError as exc:
            raise OSError(f"Graph API unreachable for media {media_id}: {exc!r}") from None
        if r.status_code >= 500 or r.status_code == 429:
            raise OSError(f"Graph API answered {r.status_code} for media {media_id}")
        url = r.json().get("url") if r.status_code == 200 else None
        if not isinstance(url, str):
            _code, _sub, reason = _graph_error(r)
            return replace(a, data={**a.data, "error": f"media not available: {reason}"})
        policy = safe_fetch.FetchPolicy.for_api(
            GRAPH_API, self.config.api_base_url, extra_hosts=MEDIA_HOSTS, max_bytes=MAX_MEDIA,
            timeout=60.0,
        )  # fmt: skip
        try:
            data, _type = await safe_fetch.fetch(
                url, policy, headers={"Authorization": f"Bearer {self.config.access_token}"}
            )
        except (safe_fetch.UnsafeURL, safe_fetch.TooLarge) as exc:
            log.warning("whatsapp_media_refused", extra={"inbox": self.inbox_id, "error": str(exc)})
            return replace(a, data={**a.data, "error": f"media not downloaded: {exc}"})
        except safe_fetch.FetchFailed as exc:
            raise OSError(f"media download failed: {exc}") from None
        return Downloaded(data, a.name or f"whatsapp-{media_id}")

    async def _profile(self, http: httpx.AsyncClient, user_id: str) -> Sender:
        fields = ("first_name,last_name,profile_pic" if self.config.channel is Channel.MESSENGER
                  else "name,username,profile_pic")  # fmt: skip
        try:
            r = await http.get(f"/{user_id}", params={"fields": fields})
            r.raise_for_status()
            p = r.json()
        except (httpx.HTTPError, ValueError, safe_fetch.FetchFailed) as exc:
            log.warning("meta_profile_failed", extra={"inbox": self.inbox_id, "error": repr(exc)})
            return Sender(user_id)
        name = p.get("name") or " ".join(x for x in (p.get("first_name"), p.get("last_name")) if x)
        return Sender(user_id, name or None, p.get("username"), avatar_url=p.get("profile_pic"))

    # -- outbound -----------------------------------------------------------------------------

    def _http(self) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        """A Graph API client, kept or for this call only."""
        return self._kept.use() if self._kept is not None else self._new_http()

    def _new_http(self) -> httpx.AsyncClient:
        """A Graph API client that reaches only the Graph API host (or the configured
        `api_base_url`), never an internal address, and follows no redirect."""
        policy = safe_fetch.FetchPolicy.for_api(GRAPH_API, self.config.api_base_url)
        return httpx.AsyncClient(
            base_url=f"{self.config.api_base_url}/{self.config.api_version}",
            headers={"Authorization": f"Bearer {self.config.access_token or ''}"},
            timeout=20.0,
            follow_redirects=False,
            trust_env=False,
            event_hooks={"request": [safe_fetch.guard(policy)]},
        )

    def payload(self, message: OutboundMessage) -> dict[str, Any]:
        """The Graph API body that delivers `message` on this inbox's platform."""
        to = message.recipient_external_id
        if self.config.channel is not Channel.WHATSAPP:
            return {"recipient": {"id": to}, "messaging_type": "RESPONSE",
                    "message": {"text": message.text}}  # fmt: skip
        base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        template = message.template
        if template is None:
            return {**base, "type": "text", "text": {"body": message.text, "preview_url": False}}
        body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
        if template.parameters:
            body["components"] = [{"type": "body", "parameters": [
                {"type": "text", "text": p} for p in template.parameters]}]  # fmt: skip
        return {**base, "type": "template", "template": body}

    async def send(self, message: OutboundMessage) -> SentReceipt:
        if message.attachments:
            raise DeliveryError(f"Crocevia sends text only on {self.channel}; "
                                "send the file as a link", retryable=False)  # fmt: skip
        if not message.recipient_external_id:
            raise DeliveryError(f"no {self.channel} user to send to", retryable=False)
        limit = MAX_TEXT[self.config.channel]
        if len(message.text) > limit:
            raise DeliveryError(f"{self.channel} messages have at most {limit} characters",
                                retryable=False)  # fmt: skip
        if not self.config.access_token:
            raise DeliveryError(f"no access token configured for this {self.channel} inbox",
                                retryable=False)  # fmt: skip
        node = self.config.account_id or "me"
        try:
            async with self._http() as http:
                r = await http.post(f"/{node}/messages", json=self.payload(message))
        except (httpx.TransportError, safe_fetch.FetchFailed) as exc:
            raise DeliveryError(f"Graph API unreachable: {exc!r}", retryable=True) from None
        except safe_fetch.UnsafeURL as exc:
            raise DeliveryError(f"Graph API address refused: {exc}", retryable=False) from None
        if r.is_success:
            body = r.json()
            mid = (body.get("messages") or [{}])[0].get("id") or body.get("message_id")
            if not mid:
                raise DeliveryError("the Graph API answered without a message id", retryable=False)
            return SentReceipt(external_id=str(mid), sent_at=utcnow())
        raise self._failure(r)

    def _failure(self, r: httpx.Response) -> DeliveryError:
        code, subcode, text = _graph_error(r)
        detail = f"{self.channel} refused the reply ({r.status_code}, code {code}): {text}"
        if code in WINDOW_CODES or subcode in WINDOW_CODES:
            return DeliveryError("outside the 24-hour window: the customer has not written in "
                                 f"the last 24 hours ({text})", retryable=False)  # fmt: skip
        if r.status_code == 429 or code in RATE_LIMIT_CODES:
            after = r.headers.get("retry-after")
            wait = float(after) if after and after.isdigit() else None
            return DeliveryError(f"rate limited: {detail}", retryable=True, retry_after=wait)
        if r.status_code >= 500 or code in TRANSIENT_CODES:
            return DeliveryError(detail, retryable=True)
        return DeliveryError(detail, retryable=False)
