"""Signed widget visitor tokens: `v1.<payload>.<signature>`, HMAC-SHA256 with the secret key.

The payload names the inbox, the visitor and their contact; the browser keeps the
token, so a reload keeps the conversation. Tokens live 180 days.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

MAX_AGE = 180 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Visitor:
    inbox_id: int
    visitor_id: str
    contact_id: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: str, payload: str) -> str:
    return _b64(hmac.new(key.encode(), f"v1.{payload}".encode(), hashlib.sha256).digest())


def issue(key: str, visitor: Visitor, now: float | None = None) -> str:
    body = {"i": visitor.inbox_id, "v": visitor.visitor_id, "c": visitor.contact_id}
    body["t"] = int(now if now is not None else time.time())
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"v1.{payload}.{_sign(key, payload)}"


def verify(key: str, token: str, now: float | None = None) -> Visitor | None:
    """The visitor a token names, or None when it is forged, malformed or expired."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        return None
    # Bytes: compare_digest raises TypeError on non-ASCII str (a 500 for a crafted token).
    if not hmac.compare_digest(_sign(key, parts[1]).encode(), parts[2].encode()):
        return None
    try:
        body = json.loads(_unb64(parts[1]))
        issued = int(body["t"])
        visitor = Visitor(int(body["i"]), str(body["v"]), int(body["c"]))
    except (ValueError, KeyError, TypeError):
        return None
    if (now if now is not None else time.time()) - issued > MAX_AGE:
        return None
    return visitor


def identity_hash(secret: str, user_id: str, expires: int | None = None) -> str:
    """What a site computes to prove its user's id: hex HMAC-SHA256 of the id, or of
    `id:expires` when it gives the proof an expiry (a unix time in seconds)."""
    signed = user_id if expires is None else f"{user_id}:{expires}"
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
