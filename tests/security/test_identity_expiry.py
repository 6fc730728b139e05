"""`setUser({id, hash, expires})`: a shop's proof of its customer's id can expire, and an
inbox can insist that it does (settings.identity_max_age_s)."""

from __future__ import annotations

import secrets
import time

import pytest
from conftest import World
from crocevia_clients import Clients
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.visitor_tokens import identity_hash
from inbox.model import Inbox

pytestmark = pytest.mark.timeout(60)


async def identify(clients: Clients, world: World, **proof: object) -> tuple[int, str]:
    visitor = await clients.visitor(world.website_token)
    r = await visitor.http.post("/api/widget/identify", json=proof)
    return r.status_code, r.json().get("error", {}).get("code", "")


async def test_an_expiring_proof_works_until_it_expires(clients: Clients, world: World) -> None:
    user = f"shop-{secrets.token_hex(4)}"
    soon = int(time.time()) + 600
    signed = identity_hash(world.hmac_secret, user, soon)
    assert await identify(clients, world, id=user, hash=signed, expires=soon) == (200, "")
    # The expiry is part of what is signed: moving it breaks the hash.
    assert await identify(clients, world, id=user, hash=signed, expires=soon + 3600) == (
        403, "bad_hash")  # fmt: skip
    past = int(time.time()) - 5
    stale = identity_hash(world.hmac_secret, user, past)
    assert await identify(clients, world, id=user, hash=stale, expires=past) == (
        403, "identity_expired")  # fmt: skip
    # Without the setting, the plain proof of the id alone still works.
    plain = identity_hash(world.hmac_secret, user)
    assert await identify(clients, world, id=user, hash=plain) == (200, "")


async def test_an_inbox_can_require_a_short_lived_proof(
    clients: Clients, world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session, session.begin():
        inbox = await session.get_one(Inbox, world.inbox_id)
        inbox.settings = {**(inbox.settings or {}), "identity_max_age_s": 3600}
    user = f"shop-{secrets.token_hex(4)}"
    plain = identity_hash(world.hmac_secret, user)
    assert await identify(clients, world, id=user, hash=plain) == (403, "expiry_required")
    forever = int(time.time()) + 10 * 365 * 86400
    assert await identify(clients, world, id=user, expires=forever,
                          hash=identity_hash(world.hmac_secret, user, forever)) == (
        403, "expiry_too_far")  # fmt: skip
    soon = int(time.time()) + 300
    assert await identify(clients, world, id=user, expires=soon,
                          hash=identity_hash(world.hmac_secret, user, soon)) == (200, "")  # fmt: skip
