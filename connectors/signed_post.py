"""POSTing signed JSON to a URL that someone configured (an admin's event webhook, the
API channel's reply URL): the signature scheme, and the address rule.

The signature: `X-Crocevia-Timestamp: <Unix seconds>` and `X-Crocevia-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the shared secret>`. A receiver
recomputes it and refuses a timestamp older than a few minutes, so a captured request
cannot be replayed later. `verify` is that receiver's side, which Crocevia uses itself
for the API channel's inbound requests.

The address rule: the URL's host must resolve to public addresses only (no loopback,
private or link-local targets: a settings form must not reach the server's own network),
and the request goes to the address that was checked (no second DNS answer can swap it).
CROCEVIA_WEBHOOKS_ALLOW_PRIVATE=1 lifts it for a deployment whose receivers are on its
own network, and for the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

import httpx

from connectors.safe_fetch import FetchPolicy, UnsafeURL, host_of, pinned

MAX_SKEW_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    stamp = str(int(now if now is not None else time.time()))
    return {"X-Crocevia-Timestamp": stamp, "X-Crocevia-Signature": signature(secret, stamp, body)}


def verify(secret: str, body: bytes, timestamp: str, given: str, now: float | None = None) -> bool:
    """Whether `given` signs `body` at `timestamp` with `secret`, within MAX_SKEW_S."""
    if not timestamp.isdigit() or abs(int(timestamp) - (now or time.time())) > MAX_SKEW_S:
        return False
    expected = signature(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, given.encode("utf-8", "replace"))


def check_url(url: str) -> None:
    """Raise UnsafeURL unless `url` is an http(s) URL with a host and no credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeURL(f"not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeURL("an http:// or https:// URL with a host")
    if parsed.userinfo:
        raise UnsafeURL("credentials in URLs are not allowed")


def private_allowed() -> bool:
    return os.environ.get("CROCEVIA_WEBHOOKS_ALLOW_PRIVATE") == "1"


async def post(
    http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], *,
    allow_private: bool, timeout_s: float = 10.0,
) -> httpx.Response:  # fmt: skip
    """POST `body` to `url` under the address rule; raises UnsafeURL for a refused
    address, FetchFailed when the host does not resolve, httpx errors for the rest."""
    check_url(url)
    target = httpx.URL(url)
    host = host_of(url)
    policy = FetchPolicy(
        hosts=frozenset({host}),
        configured_hosts=frozenset({host}) if allow_private else frozenset(),
        timeout=timeout_s,
    )
    ip = (await policy.resolve(target))[0]
    address, host_header, extensions = pinned(target, ip)
    request = http.build_request(
        "POST", address, content=body, headers={**headers, **host_header},
        extensions=extensions, timeout=timeout_s,
    )  # fmt: skip
    return await http.send(request)
