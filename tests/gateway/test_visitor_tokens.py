from __future__ import annotations

from gateway.visitor_tokens import MAX_AGE, Visitor, identity_hash, issue, verify

KEY = "k" * 40


def test_a_token_names_its_visitor_and_resists_forgery() -> None:
    v = Visitor(3, "abc", 9)
    token = issue(KEY, v, now=1000)
    assert verify(KEY, token, now=1001) == v
    assert verify("other-key" * 5, token, now=1001) is None
    head, payload, sig = token.split(".")
    assert verify(KEY, f"{head}.{payload}x.{sig}", now=1001) is None
    assert verify(KEY, "garbage", now=1001) is None
    assert verify(KEY, token, now=1000 + MAX_AGE + 1) is None


def test_identity_hash_is_hex_hmac_sha256() -> None:
    import hashlib
    import hmac

    assert (
        identity_hash("secret", "user-1")
        == hmac.new(b"secret", b"user-1", hashlib.sha256).hexdigest()
    )
