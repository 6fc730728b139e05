"""X (Twitter) as a channel, through tweepy's v2 `Client`.

Inbound comes two ways, with the same message ids so that either may deliver a
message first: the Account Activity webhook (`/webhooks/x/{inbox}`: `verify` checks
`x-twitter-webhooks-signature`, `answer_challenge` answers the CRC, `parse` reads
`direct_message_events` and `tweet_create_events`), and polling of the v2 API
(`receivers.x_polling`: mentions with `since_id`, DM events back to the last seen id).

A message's external id says its kind: `dm:{dm event id}` or `tweet:{tweet id}`. The
conversation's subject follows the kind of the customer's latest message
(`inbox.types.X_PUBLIC_SUBJECT` / `X_DM_SUBJECT`), and `send` answers the same
way: a DM answers a DM, a mention gets a public post in reply to it, which the
console shows beforehand (the conversation's `public` flag).

Settings (secrets only by reference, see `connectors.secrets`): `account_id` (our
user id; our own posts and DMs are skipped), `account_handle`, `consumer_key`,
`consumer_secret` (also the webhook's HMAC key), `access_token`,
`access_token_secret`, `bearer_token` (each as `{name}_env` or `{name}_file`),
`api_base_url` (tweepy fixes https://api.twitter.com in code; when set, a transport
adapter mounted on the client's requests session carries its requests there), and
`poll_interval` seconds.

A 429 becomes a retryable `DeliveryError` whose `retry_after` reaches the
`x-rate-limit-reset` time, so the worker waits for the reset and sends then.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from connectors.base import ParseError, VerificationError
from connectors.secrets import read_secret
from inbox.types import (
    X_DM_SUBJECT,
    X_PUBLIC_SUBJECT,
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

log = logging.getLogger("crocevia.x")

API_HOSTS = ("https://api.twitter.com", "https://api.x.com")
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
MAX_POST = 280
MAX_DM = 10_000
DM_PREFIX, TWEET_PREFIX = "dm:", "tweet:"
USER_FIELDS = ["name", "username", "profile_image_url"]


@dataclass(frozen=True, slots=True)
class XConfig:
    account_id: str | None
    account_handle: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    access_token: str | None = None
    access_token_secret: str | None = None
    bearer_token: str | None = None
    api_base_url: str | None = None
    poll_interval: float = 60.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> XConfig:
        account = settings.get("account_id")
        return cls(
            account_id=str(account) if account else None,
            account_handle=settings.get("account_handle"),
            consumer_key=read_secret(settings, "consumer_key"),
            consumer_secret=read_secret(settings, "consumer_secret"),
            access_token=read_secret(settings, "access_token"),
            access_token_secret=read_secret(settings, "access_token_secret"),
            bearer_token=read_secret(settings, "bearer_token"),
            api_base_url=(str(settings["api_base_url"]).rstrip("/")
                          if settings.get("api_base_url") else None),
            poll_interval=float(settings.get("poll_interval", 60.0)),
        )  # fmt: skip


class _ToBaseUrl(HTTPAdapter):
    """Carries requests for X's API hosts to another base URL (a local server)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = request.url or ""
        for host in API_HOSTS:
            if url.startswith(host + "/"):
                request.url = self.base_url + url[len(host) :]
                break
        return super().send(request, *args, **kwargs)


def open_client(config: XConfig) -> tweepy.Client:
    """A tweepy v2 client answering plain dicts; the caller closes `client.session`."""
    client = tweepy.Client(
        bearer_token=config.bearer_token,
        consumer_key=config.consumer_key,
        consumer_secret=config.consumer_secret,
        access_token=config.access_token,
        access_token_secret=config.access_token_secret,
        return_type=dict,
    )
    if config.api_base_url:
        adapter = _ToBaseUrl(config.api_base_url)
        for host in API_HOSTS:
            client.session.mount(host + "/", adapter)
    return client


def seconds_until_reset(exc: tweepy.TooManyRequests) -> float:
    """How long until X lifts the rate limit (`x-rate-limit-reset`), at least one second."""
    reset = getattr(exc, "reset_time", None)
    if reset is None:
        return 60.0
    return max(float(reset) - time.time(), 1.0)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _hmac_b64(secret: str, data: bytes) -> str:
    digest = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def _ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError):
        return None


def _iso(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _v1_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def _media_kind(kind: str | None) -> str:
    return "image" if kind == "photo" else "video" if kind in ("video", "animated_gif") else "file"


class XConnector:
    channel = Channel.X.value

    def __init__(self, inbox_id: int, config: XConfig) -> None:
        self.inbox_id = inbox_id
        self.config = config

    @classmethod
    def for_inbox(cls, inbox: InboxRecord) -> XConnector:
        return cls(inbox.id, XConfig.from_settings(inbox.settings or {}))

    # -- webhook: CRC and signatures ------------------------------------------------------

    def _secret(self) -> str:
        if not self.config.consumer_secret:
            raise VerificationError("no consumer secret configured for this X inbox")
        return self.config.consumer_secret

    def answer_challenge(self, query: Mapping[str, str]) -> dict[str, str]:
        """X's CRC: the HMAC-SHA256 of `crc_token` under the consumer secret, base64."""
        token = query.get("crc_token")
        if not token:
            raise VerificationError("no crc_token")
        return {"response_token": _hmac_b64(self._secret(), token.encode())}

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        given = _header(headers, SIGNATURE_HEADER)
        if not given:
            raise VerificationError(f"no {SIGNATURE_HEADER} header")
        if not hmac.compare_digest(given.encode(), _hmac_b64(self._secret(), body).encode()):
            raise VerificationError("the signature does not match the body")

    # -- inbound: Account Activity payloads -----------------------------------------------

    def parse(self, payload: Any) -> list[InboundMessage]:
        if not isinstance(payload, dict):
            raise ParseError("expected a JSON object")
        ours = str(payload.get("for_user_id") or self.config.account_id or "")
        if self.config.account_id and ours != self.config.account_id:
            log.warning("x_other_account", extra={"inbox": self.inbox_id, "for_user_id": ours})
            return []
        try:
            users = payload.get("users") or {}
            items = [
                m
                for ev in payload.get("direct_message_events") or []
                if (m := self._v1_dm(ev, users, ours)) is not None
            ]
            items += [
                m
                for tw in payload.get("tweet_create_events") or []
                if (m := self._v1_tweet(tw, ours)) is not None
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ParseError(f"unexpected Account Activity payload: {exc!r}") from None
        return items

    def _v1_dm(self, ev: dict[str, Any], users: dict[str, Any], ours: str) -> InboundMessage | None:
        if ev.get("type") != "message_create":
            return None
        create = ev["message_create"]
        sender_id = str(create["sender_id"])
        if sender_id == ours:
            return None  # our own reply, echoed
        data = create.get("message_data") or {}
        user = users.get(sender_id) or {}
        media = (data.get("attachment") or {}).get("media")
        attachments = (
            (Attachment(kind=_media_kind(media.get("type")), url=media.get("media_url_https")),)
            if media
            else ()
        )
        return self.dm_message(
            str(ev["id"]),
            Sender(sender_id, user.get("name"), user.get("screen_name"),
                   avatar_url=user.get("profile_image_url_https")),
            str(data.get("text") or ""), _ms(ev.get("created_timestamp")), attachments,
        )  # fmt: skip

    def _v1_tweet(self, tw: dict[str, Any], ours: str) -> InboundMessage | None:
        user = tw["user"]
        author = str(user["id_str"])
        if author == ours or "retweeted_status" in tw:
            return None
        mentioned = {
            str(m.get("id_str")) for m in (tw.get("entities") or {}).get("user_mentions", [])
        }
        if ours and ours not in mentioned and str(tw.get("in_reply_to_user_id_str")) != ours:
            return None
        text = (
            (tw.get("extended_tweet") or {}).get("full_text") or tw.get("full_text") or tw["text"]
        )
        return self.tweet_message(
            str(tw["id_str"]),
            Sender(author, user.get("name"), user.get("screen_name"),
                   avatar_url=user.get("profile_image_url_https")),
            str(text), _v1_time(tw.get("created_at")), tw.get("in_reply_to_status_id_str"),
        )  # fmt: skip

    # -- inbound: v2 API bodies (polling) -------------------------------------------------

    def parse_mentions(self, body: Mapping[str, Any]) -> list[InboundMessage]:
        """A `GET /2/users/:id/mentions` answer (with `expansions=author_id`)."""
        users = {u["id"]: u for u in (body.get("includes") or {}).get("users", [])}
        items = []
        for tw in body.get("data") or []:
            author = str(tw.get("author_id", ""))
            if not author or author == self.config.account_id:
                continue
            replied = next((r["id"] for r in tw.get("referenced_tweets") or []
                            if r.get("type") == "replied_to"), None)  # fmt: skip
            items.append(
                self.tweet_message(
                    str(tw["id"]),
                    _v2_sender(author, users),
                    str(tw["text"]),
                    _iso(tw.get("created_at")),
                    replied,
                )  # fmt: skip
            )
        return items

    def parse_dm_events(self, body: Mapping[str, Any]) -> list[InboundMessage]:
        """A `GET /2/dm_events` answer (with `expansions=sender_id,attachments.media_keys`)."""
        includes = body.get("includes") or {}
        users = {u["id"]: u for u in includes.get("users", [])}
        media = {m["media_key"]: m for m in includes.get("media", [])}
        items = []
        for ev in body.get("data") or []:
            sender = str(ev.get("sender_id", ""))
            if ev.get("event_type") != "MessageCreate" or not sender:
                continue
            if sender == self.config.account_id:
                continue
            attachments = tuple(
                Attachment(kind=_media_kind(m.get("type")), url=m.get("url"))
                for key in (ev.get("attachments") or {}).get("media_keys", [])
                if (m := media.get(key)) is not None
            )
            items.append(
                self.dm_message(
                    str(ev["id"]),
                    _v2_sender(sender, users),
                    str(ev.get("text") or ""),
                    _iso(ev.get("created_at")),
                    attachments,
                )  # fmt: skip
            )
        return items

    # -- inbound: one message ---------------------------------------------------------------

    def dm_message(
        self,
        event_id: str,
        sender: Sender,
        text: str,
        sent_at: datetime | None,
        attachments: Iterable[Attachment] = (),
    ) -> InboundMessage:
        return InboundMessage(
            channel=Channel.X, inbox_id=self.inbox_id, external_id=DM_PREFIX + event_id,
            sender=sender, text=text, sent_at=sent_at or utcnow(),
            attachments=tuple(attachments), subject=X_DM_SUBJECT, raw={"kind": "dm"},
        )  # fmt: skip

    def tweet_message(
        self, tweet_id: str, sender: Sender, text: str, sent_at: datetime | None, reply_to: Any
    ) -> InboundMessage:
        return InboundMessage(
            channel=Channel.X, inbox_id=self.inbox_id, external_id=TWEET_PREFIX + tweet_id,
            sender=sender, text=text, sent_at=sent_at or utcnow(),
            reply_to=TWEET_PREFIX + str(reply_to) if reply_to else None,
            subject=X_PUBLIC_SUBJECT, raw={"kind": "tweet"},
        )  # fmt: skip

    # -- outbound -----------------------------------------------------------------------------

    @staticmethod
    def reply_target(message: OutboundMessage) -> str | None:
        """The tweet id to answer publicly when the customer's latest message is a post;
        None when it is a DM (or unknown), so the reply goes as a DM."""
        last = message.last_inbound_external_id
        if last and last.startswith(TWEET_PREFIX):
            return last[len(TWEET_PREFIX) :]
        return None

    async def send(self, message: OutboundMessage) -> SentReceipt:
        if message.attachments:
            raise DeliveryError("X replies from Crocevia carry text only", retryable=False)
        tweet_id = self.reply_target(message)
        limit = MAX_POST if tweet_id else MAX_DM
        if len(message.text) > limit:
            kind = "a public reply on X" if tweet_id else "an X direct message"
            raise DeliveryError(f"{kind} has at most {limit} characters", retryable=False)
        if not tweet_id and not message.recipient_external_id:
            raise DeliveryError("no X user to send the direct message to", retryable=False)
        external_id = await asyncio.to_thread(self._send_sync, message, tweet_id)
        return SentReceipt(external_id=external_id, sent_at=utcnow())

    def _send_sync(self, message: OutboundMessage, tweet_id: str | None) -> str:
        client = open_client(self.config)
        try:
            if tweet_id:
                body = client.create_tweet(text=message.text, in_reply_to_tweet_id=tweet_id)
                return TWEET_PREFIX + str(body["data"]["id"])
            body = client.create_direct_message(
                participant_id=message.recipient_external_id, text=message.text
            )
            return DM_PREFIX + str(body["data"]["dm_event_id"])
        except tweepy.TooManyRequests as exc:
            wait = seconds_until_reset(exc)
            raise DeliveryError(f"X rate limit: waiting {wait:.0f}s for the reset",
                                retryable=True, retry_after=wait) from None  # fmt: skip
        except tweepy.TwitterServerError as exc:
            raise DeliveryError(f"X server error {exc.response.status_code}",
                                retryable=True) from None  # fmt: skip
        except tweepy.HTTPException as exc:
            detail = "; ".join(exc.api_messages) or exc.response.reason
            raise DeliveryError(f"X refused the reply ({exc.response.status_code}): {detail}",
                                retryable=False) from None  # fmt: skip
        except requests.RequestException as exc:
            raise DeliveryError(f"X API unreachable: {exc!r}", retryable=True) from None
        except (KeyError, TypeError) as exc:  # answered 2xx: sent, so never send it again
            raise DeliveryError(f"X answered without the new id: {exc!r}",
                                retryable=False) from None  # fmt: skip
        finally:
            client.session.close()


def _v2_sender(user_id: str, users: Mapping[str, Any]) -> Sender:
    user = users.get(user_id) or {}
    return Sender(user_id, user.get("name"), user.get("username"),
                  avatar_url=user.get("profile_image_url"))  # fmt: skip
