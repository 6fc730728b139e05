"""Routing, presence, auto-replies and SLA with a clock the test drives, on the real
database and a real Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import ConnectionPool, Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.presence import SEEN_KEY
from gateway.router import Router
from inbox import background, routing
from inbox.db import create_engine, sessionmaker
from inbox.events import EVENTS_STREAM
from inbox.model import Agent, Contact, Conversation, Inbox, Message, Outbox, SlaBreach, Team
from inbox.relay import Relay

ROME = ZoneInfo("Europe/Rome")
HOURS = {
    "schedule": {
        **{d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        "sat": [["09:00", "13:00"]],
    },
    "holidays": "IT",
}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def make_team(
    db: async_sessionmaker[AsyncSession],
    policy: str,
    agents: list[tuple[str, int, str]],  # name, capacity, languages
    inbox_settings: dict | None = None,  # type: ignore[type-arg]
) -> tuple[int, int, list[int]]:
    tag = secrets.token_hex(4)
    async with db() as session, session.begin():
        team = Team(name=f"care-{tag}", routing_policy=policy)
        session.add(team)
        await session.flush()
        inbox = Inbox(name=f"shop-{tag}", channel="website", team_id=team.id,
                      website_token=secrets.token_urlsafe(12), settings=inbox_settings or {})  # fmt: skip
        made = [
            Agent(
                email=f"{n}-{tag}@example.test",
                name=n,
                password_hash="x",
                capacity=cap,
                languages=langs,
                presence="online",
                teams=[team],
            )  # fmt: skip
            for n, cap, langs in agents
        ]
        session.add(inbox)
        session.add_all(made)
        await session.flush()
        return team.id, inbox.id, [a.id for a in made]


async def waiting(
    db: async_sessionmaker[AsyncSession], team_id: int, inbox_id: int, n: int,
    since: datetime | None = None, **extra: object,
) -> list[int]:  # fmt: skip
    """`n` open conversations waiting since `since` (default: the last `n` minutes)."""
    ids = []
    async with db() as session, session.begin():
        for i in range(n):
            contact = Contact(name=f"Cliente {i}", attributes={})
            session.add(contact)
            await session.flush()
            conv = Conversation(
                inbox_id=inbox_id, contact_id=contact.id, channel="website", status="open",
                team_id=team_id, waiting_since=since or datetime.now(UTC) - timedelta(minutes=n - i),
                **extra,
            )  # fmt: skip
            session.add(conv)
            await session.flush()
            ids.append(conv.id)
    return ids


async def assignees(db: async_sessionmaker[AsyncSession], ids: list[int]) -> dict[int, int | None]:
    async with db() as session:
        rows = await session.execute(
            select(Conversation.id, Conversation.assignee_id).where(Conversation.id.in_(ids))
        )
        return {c: a for c, a in rows.all()}


async def route(
    db: async_sessionmaker[AsyncSession], team_id: int, connected: set[int]
) -> list[Outbox]:
    outbox: list[Outbox] = []
    async with db() as session, session.begin():
        await routing.route_team(session, team_id, datetime.now(UTC), connected, outbox)
    return outbox


async def test_round_robin_respects_capacity_and_the_queue_order(
    db: async_sessionmaker[AsyncSession],
) -> None:
    team, inbox, (a, b, c) = await make_team(
        db, "round_robin", [("Anna", 2, "it,en"), ("Bruno", 2, "it,en"), ("Carla", 2, "it")]
    )
    convs = await waiting(db, team, inbox, 7)
    await route(db, team, {a, b, c})
    got = await assignees(db, convs)
    assert Counter(got.values()) == {a: 2, b: 2, c: 2, None: 1}
    assert got[convs[-1]] is None  # the one who waited least still waits
    assert [got[x] for x in convs[:3]] == [a, b, c]  # round-robin order

    # An urgent newcomer jumps the queue once someone frees a slot.
    (urgent,) = await waiting(db, team, inbox, 1, priority="urgent")
    async with db() as session, session.begin():
        conv = await session.get_one(Conversation, convs[0])
        conv.status = "resolved"
    await route(db, team, {a, b, c})
    got = await assignees(db, [*convs, urgent])
    assert got[urgent] == a and got[convs[-1]] is None


async def test_least_busy_and_italian_speakers_first(db: async_sessionmaker[AsyncSession]) -> None:
    team, inbox, (en, it1, it2) = await make_team(
        db, "least_busy", [("Emma", 5, "en"), ("Italo", 5, "it,en"), ("Ilaria", 5, "it")]
    )
    italian = await waiting(db, team, inbox, 4, language="it")
    english = await waiting(db, team, inbox, 1, language="en")
    await route(db, team, {en, it1, it2})
    got = await assignees(db, italian + english)
    assert {got[x] for x in italian} == {it1, it2}
    assert Counter(got[x] for x in italian) == {it1: 2, it2: 2}
    assert got[english[0]] == en  # the least busy English speaker

    # Nobody connected: nothing is assigned; a manual team is never routed.
    team2, inbox2, _ = await make_team(db, "manual", [("Marco", 5, "it")])
    left = await waiting(db, team2, inbox2, 2)
    assert await route(db, team2, {1, 2, 3}) == []
    assert set((await assignees(db, left)).values()) == {None}


async def test_two_routers_racing_never_double_assign_or_overfill(
    db: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    team, inbox, agents = await make_team(
        db, "round_robin", [("Anna", 3, "it"), ("Bruno", 3, "it"), ("Carla", 3, "it")]
    )
    convs = await waiting(db, team, inbox, 12)
    engines = [create_engine(database_url) for _ in range(2)]
    try:
        results = await asyncio.gather(
            *(route(sessionmaker(e), team, set(agents)) for e in engines for _ in range(3))
        )
    finally:
        for e in engines:
            await e.dispose()
    announced = Counter(row.payload["conversation"]["id"] for outbox in results for row in outbox)
    got = await assignees(db, convs)
    assert Counter(got.values()) == {agents[0]: 3, agents[1]: 3, agents[2]: 3, None: 3}
    assert all(n == 1 for n in announced.values()) and len(announced) == 9


@pytest.fixture
async def relay(db: async_sessionmaker[AsyncSession], redis: Redis) -> Relay:
    return Relay(redis, db)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def test_saturday_night_gets_the_auto_reply_once(
    db: async_sessionmaker[AsyncSession], relay: Relay, redis: Redis
) -> None:
    saturday_night = datetime(2026, 11, 28, 22, 30, tzinfo=ROME)
    team, inbox, _ = await make_team(
        db, "round_robin", [("Anna", 5, "it")], {"business_hours": HOURS, "auto_reply": {}}
    )
    # Waiting since then from the start: the session's live worker runs its router on the
    # real clock against this database, and sends the away reply of a conversation that
    # waits since "now" when "now" is out of hours (with the real date in its text).
    (conv,) = await waiting(db, team, inbox, 1, since=saturday_night, language="it")
    clock = Clock(saturday_night + timedelta(seconds=5))
    router = Router(db, relay, redis, clock=clock)
    await asyncio.gather(router.tick(), Router(db, relay, redis, clock=clock).tick())
    clock.at += timedelta(minutes=1)
    await router.tick()
    async with db() as session:
        sent = (
            (await session.execute(select(Message).where(Message.conversation_id == conv)))
            .scalars()
            .all()
        )
    assert len(sent) == 1 and sent[0].direction == "out" and sent[0].author_agent_id is None
    assert "ti risponderemo da lunedì 30 novembre alle 09:00" in sent[0].text
    assert sent[0].status in ("pending", "sent")  # queued for (or sent by) the outbound workers


async def test_an_sla_breach_fires_once_at_the_right_time(
    db: async_sessionmaker[AsyncSession], relay: Relay, redis: Redis
) -> None:
    settings = {"business_hours": HOURS, "sla": {"normal": {"first_response_minutes": 30}}}
    team, inbox, _ = await make_team(db, "manual", [("Anna", 5, "it")], settings)
    (conv,) = await waiting(db, team, inbox, 1)
    # A week far ahead: the session's live worker runs its router on the real clock against
    # this database, and must not find this breach due before the driven clock does.
    monday_evening = datetime(2036, 11, 24, 17, 50, tzinfo=ROME)
    async with db() as session, session.begin():
        (await session.get_one(Conversation, conv)).waiting_since = monday_evening
    clock = Clock(datetime(2036, 11, 25, 9, 19, tzinfo=ROME))  # 10 + 19 business minutes
    router = Router(db, relay, redis, clock=clock)

    async def breaches() -> list[SlaBreach]:
        async with db() as session:
            q = select(SlaBreach).where(SlaBreach.conversation_id == conv)
            return list((await session.execute(q)).scalars())

    await router.tick()
    assert await breaches() == []
    clock.at = datetime(2036, 11, 25, 9, 21, tzinfo=ROME)
    await router.tick()
    await router.tick()
    found = await breaches()
    assert len(found) == 1 and found[0].kind == "first_response"
    assert found[0].due_at == datetime(2036, 11, 25, 9, 20, tzinfo=ROME)
    async with db() as session:
        events = await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.event == "sla.breached")
            .where(Outbox.payload["conversation"]["id"].as_integer() == conv)
        )  # fmt: skip
    assert events == 1


async def test_an_agent_whose_console_stops_beating_goes_offline_and_requeues(
    db: async_sessionmaker[AsyncSession], relay: Relay, redis: Redis
) -> None:
    team, inbox, (anna, bruno) = await make_team(
        db, "round_robin", [("Anna", 5, "it"), ("Bruno", 5, "it")]
    )
    unanswered, answered = await waiting(db, team, inbox, 2)
    async with db() as session, session.begin():
        for cid in (unanswered, answered):
            (await session.get_one(Conversation, cid)).assignee_id = anna
        done = await session.get_one(Conversation, answered)
        done.waiting_since, done.first_response_at = None, datetime.now(UTC)
    now = time.time()
    await redis.zadd(SEEN_KEY, {str(anna): now - 120, str(bruno): now})
    router = Router(db, relay, redis, grace_s=60)
    await router.tick()
    async with db() as session:
        assert (await session.get_one(Agent, anna)).presence == "offline"
        assert (await session.get_one(Agent, bruno)).presence == "online"
    got = await assignees(db, [unanswered, answered])
    assert got == {unanswered: bruno, answered: anna}  # requeued, then routed to Bruno
    # Anna's old beat is forgotten: back online after a new login, it cannot take her
    # offline again; Bruno's fresh one stays.
    assert await redis.zscore(SEEN_KEY, str(anna)) is None
    assert await redis.zscore(SEEN_KEY, str(bruno)) == pytest.approx(now)


async def test_a_steady_flow_of_events_gets_a_pass_every_half_second_not_one_per_burst(
    db: async_sessionmaker[AsyncSession], relay: Relay, redis_url: str
) -> None:
    """Events arriving every 20 ms for 2 s: the router reacts to them (more than its
    10 s interval would give) but passes at most once per background.PASS_GAP_S."""
    # A Redis database of its own: the session's gateways read the shared events stream.
    shared = Redis.from_url(redis_url).connection_pool
    where = {k: v for k, v in shared.connection_kwargs.items() if k in ("host", "port", "path")}
    redis = Redis(connection_pool=ConnectionPool(connection_class=shared.connection_class, db=9,
                                                 **where))  # fmt: skip
    passes: list[float] = []

    class Counted(Router):
        async def tick(self) -> None:
            passes.append(time.monotonic())
            await super().tick()

    stop = asyncio.Event()
    loop = asyncio.create_task(Counted(db, relay, redis).run(stop, interval=10.0))
    try:
        await asyncio.sleep(0.3)  # the first pass, then waiting for events
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            await redis.xadd(EVENTS_STREAM, {"event": "message.created", "payload": "{}"})
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 15)
        await redis.flushdb()
        await redis.aclose(close_connection_pool=True)
    assert 2 <= len(passes) <= 7, passes
    gaps = [b - a for a, b in zip(passes, passes[1:], strict=False)]
    assert min(gaps) >= background.PASS_GAP_S - 0.01, gaps
