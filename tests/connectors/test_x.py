"""X (Twitter) against a local server that answers like the X API v2.

The connector uses the real tweepy `Client`; the inbox's `api_base_url` makes it mount
a transport adapter on the client's requests session that carries its requests to
`FakeX`. Webhooks and replies go through the test session's real gateway and worker.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_replies import reply, wait_status
from conftest import Services, make_world
from fakes_social.x_api import ACCOUNT_HANDLE, ACCOUNT_ID, FakeX
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.base import VerificationError
from connectors.x import SIGNATURE_HEADER, XConnector
from inbox.model import ChannelCursor, Conversation, Identity, Inbox, Message
from receivers.x_polling import DM_EVENTS, MENTIONS, XPoller

pytestmark = pytest.mark.timeout(90)


@dataclass
class Account:
    """An X inbox of a fresh team: its secrets in files, its API the fake."""

    fake: FakeX
    inbox_id: int
    agent: tuple[int, str, str]
    consumer_secret: str


@pytest.fixture
def fake() -> Iterator[FakeX]:
    server = FakeX()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def account(fake: FakeX, db: async_sessionmaker[AsyncSession], tmp_path: Path) -> Account:
    world = await make_world(db)
    consumer_secret = secrets.token_urlsafe(32)
    settings: dict[str, Any] = {"account_id": ACCOUNT_ID, "account_handle": ACCOUNT_HANDLE,
                                "api_base_url": fake.url, "poll_interval": 0.2}  # fmt: skip
    for name, value in {"consumer_key": "ck", "consumer_secret": consumer_secret,
                        "access_token": "at", "access_token_secret": "ats"}.items():  # fmt: skip
        (tmp_path / name).write_text(value + "\n")
        settings[f"{name}_file"] = str(tmp_path / name)
    async with db() as session, session.begin():
        inbox = Inbox(name="x", channel="x", team_id=world.team_id, settings=settings)
        session.add(inbox)
        await session.flush()
        inbox_id = inbox.id
    return Account(fake, inbox_id, world.agents["anna"], consumer_secret)


def new_user(fake: FakeX) -> str:
    """X user ids are global (identities): every test talks from users of its own."""
    user_id = str(10**15 + secrets.randbelow(10**15))
    fake.add_user(user_id, "Giulia Rossi", f"giulia_{user_id[-6:]}")
    return user_id


async def connector(db: async_sessionmaker[AsyncSession], account: Account) -> XConnector:
    async with db() as session:
        inbox = await session.get_one(Inbox, account.inbox_id)
    return XConnector.for_inbox(inbox)


async def messages_of(db: async_sessionmaker[AsyncSession], inbox_id: int) -> list[Message]:
    async with db() as session:
        rows = await session.execute(
            select(Message).where(Message.inbox_id == inbox_id).order_by(Message.id)
        )
        return list(rows.scalars())


def signed(secret: str, body: bytes) -> str:
    return (
        "sha256="
        + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    )


def activity(user_id: str, *, dm: str | None = None, mention: str | None = None,
             ids: tuple[str, str] = ("", "")) -> dict[str, Any]:  # fmt: skip
    """An Account Activity delivery (v1.1 shapes) with a DM and/or a mention."""
    handle = f"giulia_{user_id[-6:]}"
    user = {"id": user_id, "id_str": user_id, "name": "Giulia Rossi", "screen_name": handle,
            "profile_image_url_https": f"https://pbs.example.test/{handle}.jpg"}  # fmt: skip
    payload: dict[str, Any] = {"for_user_id": ACCOUNT_ID, "users": {user_id: user}}
    if dm is not None:
        payload["direct_message_events"] = [{
            "type": "message_create", "id": ids[0] or str(secrets.randbelow(10**18)),
            "created_timestamp": str(int(time.time() * 1000)),
            "message_create": {"target": {"recipient_id": ACCOUNT_ID}, "sender_id": user_id,
                               "message_data": {"text": dm, "entities": {}}},
        }]  # fmt: skip
    if mention is not None:
        payload["tweet_create_events"] = [{
            "id_str": ids[1] or str(secrets.randbelow(10**18)),
            "created_at": time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime()),
            "text": f"@{ACCOUNT_HANDLE} {mention}", "user": user,
            "entities": {"user_mentions": [{"id_str": ACCOUNT_ID, "screen_name": ACCOUNT_HANDLE}]},
        }]  # fmt: skip
    return payload


async def deliver(services: Services, account: Account, payload: dict[str, Any],
                  signature: str | None = None) -> httpx.Response:  # fmt: skip
    body = json.dumps(payload).encode()
    sig = signature if signature is not None else signed(account.consumer_secret, body)
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        return await http.post(f"/webhooks/x/{account.inbox_id}", content=body,
                               headers={SIGNATURE_HEADER: sig, "content-type": "application/json"})  # fmt: skip


# -- webhook: CRC, signatures, parsing -----------------------------------------------------


async def test_crc_is_answered_with_the_hmac_of_the_token(
    account: Account, services: Services
) -> None:
    token = secrets.token_urlsafe(16)
    expected = signed(account.consumer_secret, token.encode())
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.get(f"/webhooks/x/{account.inbox_id}", params={"crc_token": token})
        assert r.status_code == 200 and r.json() == {"response_token": expected}
        assert (await http.get(f"/webhooks/x/{account.inbox_id}")).status_code == 403


async def test_forged_deliveries_are_refused_and_duplicates_store_nothing(
    account: Account, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    user = new_user(account.fake)
    payload = activity(user, dm="Il mio ordine non è arrivato", mention="aiuto!")
    body = json.dumps(payload).encode()
    forged = [
        signed("not-the-secret", body),
        "",
        "sha256=",
        signed(account.consumer_secret, body + b" "),
    ]
    for signature in forged:
        r = await deliver(services, account, payload, signature)
        assert r.status_code == 401, r.text
    assert await messages_of(db, account.inbox_id) == []

    r = await deliver(services, account, payload)
    assert r.status_code == 200 and r.json() == {"received": 2, "stored": 2}
    r = await deliver(services, account, payload)  # X delivers again
    assert r.status_code == 200 and r.json() == {"received": 2, "stored": 0}

    dm, tweet = await messages_of(db, account.inbox_id)
    assert dm.external_id.startswith("dm:") and dm.text == "Il mio ordine non è arrivato"
    assert tweet.external_id.startswith("tweet:") and tweet.text.endswith("aiuto!")
    async with db() as session:
        identity = (
            await session.execute(select(Identity).where(Identity.channel == "x",
                                                         Identity.external_id == user))
        ).scalar_one()  # fmt: skip
    assert identity.handle == f"giulia_{user[-6:]}" and identity.display_name == "Giulia Rossi"
    assert identity.avatar_url == f"https://pbs.example.test/giulia_{user[-6:]}.jpg"


async def test_own_posts_retweets_and_other_events_are_skipped(
    db: async_sessionmaker[AsyncSession], account: Account
) -> None:
    conn = await connector(db, account)
    ours = activity(ACCOUNT_ID, dm="our reply, echoed", mention="our own post")
    assert conn.parse(ours) == []
    assert conn.parse({"for_user_id": ACCOUNT_ID, "favorite_events": [{"id": "1"}]}) == []
    other = activity(new_user(account.fake), mention="hello")
    other["for_user_id"] = "42"  # a delivery for another account of the same app
    assert conn.parse(other) == []
    with pytest.raises(VerificationError):
        conn.verify({}, b"{}")


# -- polling ----------------------------------------------------------------------------------


def run_poll_once(services: Services, inbox_id: int) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "x", "poll", str(inbox_id), "--once"],
        env=services.env(), capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


async def test_polling_across_restarts_neither_misses_nor_repeats(
    account: Account, services: Services, db: async_sessionmaker[AsyncSession]
) -> None:
    fake = account.fake
    alice, bob = new_user(fake), new_user(fake)
    fake.mention(alice, f"@{ACCOUNT_HANDLE} primo")
    fake.dm(bob, "ciao, una domanda")
    fake.mention(bob, f"@{ACCOUNT_HANDLE} secondo")
    fake.dm(ACCOUNT_ID, "a DM we sent ourselves")

    out = await asyncio.to_thread(run_poll_once, services, account.inbox_id)
    assert "stored 3 new messages" in out
    # Messages arrive while no poller runs; then a new process starts from the cursors.
    later = [fake.mention(alice, f"@{ACCOUNT_HANDLE} terzo"), fake.dm(alice, "in privato")]
    out = await asyncio.to_thread(run_poll_once, services, account.inbox_id)
    assert "stored 2 new messages" in out
    out = await asyncio.to_thread(run_poll_once, services, account.inbox_id)
    assert "stored 0 new messages" in out

    rows = await messages_of(db, account.inbox_id)
    assert sorted(m.text.split()[-1] for m in rows) == sorted(
        ["primo", "domanda", "secondo", "terzo", "privato"]
    )
    assert len({m.external_id for m in rows}) == 5
    mention_calls = fake.calls_to("GET", "/mentions")
    assert "since_id" not in mention_calls[0].params  # the first round ever
    assert int(mention_calls[1].params["since_id"]) < int(later[0])
    assert mention_calls[2].params["since_id"] == later[0]
    async with db() as session:
        dm_cursor = await session.get_one(ChannelCursor, (account.inbox_id, DM_EVENTS))
    assert dm_cursor.state["last_id"] == later[1]


async def test_a_long_backlog_is_read_page_by_page_without_a_gap(
    account: Account, db: async_sessionmaker[AsyncSession]
) -> None:
    fake = account.fake
    user = new_user(fake)
    fake.mention(user, "first")
    poller = XPoller(await connector(db, account), db)
    assert await poller.poll_once() == 1
    backlog = {fake.mention(user, f"m{n}") for n in range(230)}  # three pages of 100
    restarted = XPoller(await connector(db, account), db)
    assert await restarted.poll_once() == 230
    stored = {m.external_id for m in await messages_of(db, account.inbox_id)}
    assert {f"tweet:{i}" for i in backlog} <= stored and len(stored) == 231
    async with db() as session:
        cursor = await session.get_one(ChannelCursor, (account.inbox_id, MENTIONS))
    assert cursor.state["last_id"] == max(backlog, key=int)


async def test_polling_waits_for_the_rate_limit_reset_and_goes_on(
    account: Account, db: async_sessionmaker[AsyncSession]
) -> None:
    fake = account.fake
    fake.mention(new_user(fake), "dopo il limite")
    fake.rate_limit_next("/mentions", reset_in=2)
    poller = XPoller(await connector(db, account), db)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        deadline = time.monotonic() + 20
        while not await messages_of(db, account.inbox_id):
            assert time.monotonic() < deadline, "the poller never went on after the 429"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
    limited, after = fake.calls_to("GET", "/mentions")[:2]
    assert limited.status == 429 and after.status == 200
    assert after.at >= int(limited.at + 2) - 0.01  # not before x-rate-limit-reset


# -- replies through the worker -----------------------------------------------------------------


@pytest.fixture
async def agent_http(account: Account, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    _id, email, password = account.agent
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        r = await http.post("/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        yield http


async def conversation_of(db: async_sessionmaker[AsyncSession], inbox_id: int) -> int:
    async with db() as session:
        return (
            await session.execute(select(Conversation.id).where(Conversation.inbox_id == inbox_id))
        ).scalar_one()


async def is_public(http: httpx.AsyncClient, conv_id: int) -> bool:
    r = await http.get(f"/api/conversations/{conv_id}/messages")
    r.raise_for_status()
    return bool(r.json()["conversation"]["public"])


async def test_a_dm_answers_a_dm_and_a_mention_gets_a_public_reply(
    account: Account, services: Services, db: async_sessionmaker[AsyncSession],
    agent_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    user = new_user(account.fake)
    dm_id = str(secrets.randbelow(10**18))
    r = await deliver(
        services, account, activity(user, dm="posso cambiare taglia?", ids=(dm_id, ""))
    )
    assert r.json()["stored"] == 1
    conv_id = await conversation_of(db, account.inbox_id)
    assert not await is_public(agent_http, conv_id)

    sent = await wait_status(db, await reply(agent_http, conv_id, "Certo, in privato."), "sent")
    (dm,) = [p for p in account.fake.posted if p["kind"] == "dm"]
    assert dm["to"] == user and dm["text"] == "Certo, in privato."
    assert sent.external_id == f"dm:{dm['id']}"

    tweet_id = str(secrets.randbelow(10**18))
    r = await deliver(
        services, account, activity(user, mention="ancora niente!", ids=("", tweet_id))
    )
    assert r.json()["stored"] == 1
    assert await is_public(agent_http, conv_id)  # the console shows it before the agent sends

    sent = await wait_status(
        db, await reply(agent_http, conv_id, "Ci scusiamo, vi scriviamo in DM"), "sent"
    )
    (post,) = [p for p in account.fake.posted if p["kind"] == "tweet"]
    assert post["reply"] == {"in_reply_to_tweet_id": tweet_id}
    assert post["text"] == "Ci scusiamo, vi scriviamo in DM"
    assert sent.external_id == f"tweet:{post['id']}"


async def test_a_429_is_waited_out_until_the_reset_and_the_reply_is_delivered(
    account: Account, services: Services, db: async_sessionmaker[AsyncSession],
    agent_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    user = new_user(account.fake)
    assert (await deliver(services, account, activity(user, dm="ci siete?"))).status_code == 200
    conv_id = await conversation_of(db, account.inbox_id)
    account.fake.rate_limit_next("/dm_conversations", reset_in=2)
    sent = await wait_status(db, await reply(agent_http, conv_id, "Sì, eccoci"), "sent")
    limited, delivered = account.fake.calls_to("POST", "/dm_conversations")
    assert limited.status == 429 and delivered.status == 201 and sent.error is None
    assert delivered.at >= int(limited.at + 2) - 0.01  # sent only once the limit was reset
    assert [p["text"] for p in account.fake.posted] == ["Sì, eccoci"]
