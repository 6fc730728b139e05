"""Contacts' signals, sentiment rollups, segment rules and the streamed export.

Tests share one database: every contact made here carries the attribute `cohort` with a
value of its own test, and each segment rule is scoped to that cohort.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import World
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox import segments, sentiment_rollups, signals
from inbox.db import create_engine, sessionmaker
from inbox.migrate import upgrade
from inbox.model import (
    Contact,
    Conversation,
    CsatResponse,
    Inbox,
    Message,
    Segment,
    utcnow,
)

pytestmark = pytest.mark.timeout(120)


# ---- the rollups' arithmetic -------------------------------------------------------------


def test_current_sentiment_weighs_the_latest_most() -> None:
    assert sentiment_rollups.current([]) is None
    assert sentiment_rollups.current([0.5]) == 0.5
    # weights 0.6 and 1: (0.6 * -1 + 1 * 1) / 1.6
    assert sentiment_rollups.current([-1.0, 1.0]) == pytest.approx(0.25)
    # only the last WINDOW scores count
    long = [-1.0] * 30 + [0.2] * sentiment_rollups.WINDOW
    assert sentiment_rollups.current(long) == pytest.approx(0.2)


def test_trend_is_the_slope_of_the_last_scores() -> None:
    assert sentiment_rollups.trend([0.1, 0.2]) is None  # too few
    assert sentiment_rollups.trend([-0.5, -0.6, -0.7]) == "worsening"
    assert sentiment_rollups.trend([-0.5, 0.0, 0.5]) == "improving"
    assert sentiment_rollups.trend([0.3, 0.31, 0.29, 0.3]) == "stable"
    assert sentiment_rollups.slope([0.0, 0.1, 0.2, 0.3]) == pytest.approx(0.1)


def test_negative_streak_counts_back_from_the_latest() -> None:
    streak = sentiment_rollups.negative_streak
    assert streak(["negative", "negative", "neutral", "negative"]) == 2
    assert streak(["positive", "negative"]) == 0
    assert streak([]) == 0


# ---- a fixed data set --------------------------------------------------------------------


@dataclass
class Fixed:
    cohort: str
    ids: dict[str, int]
    now: datetime


def _label(score: float) -> str:
    return "negative" if score <= -0.05 else "positive" if score >= 0.05 else "neutral"


async def _conversation(
    session: AsyncSession, world: World, contact_id: int, channel: str, start: datetime,
    inbound: list[tuple[float, float]], outbound: int = 0, first_response_s: float | None = None,
    labels: list[str] | None = None, rating: int | None = None,
) -> int:  # fmt: skip
    """A conversation with inbound (days ago, score) messages and `outbound` replies."""
    conv = Conversation(
        inbox_id=world.inbox_id, contact_id=contact_id, channel=channel, status="resolved",
        threaded=True, created_at=start, labels=labels or [],
        first_response_at=None if first_response_s is None else start + timedelta(seconds=first_response_s),
    )  # fmt: skip
    session.add(conv)
    await session.flush()
    for i, (when, score) in enumerate(inbound):
        session.add(Message(conversation_id=conv.id, inbox_id=world.inbox_id, direction="in",
                            text=f"segreto {i}", attachments=[], status="received",
                            author_contact_id=contact_id, sentiment_score=score,
                            sentiment_label=_label(score), created_at=when))  # fmt: skip
    for i in range(outbound):
        session.add(Message(conversation_id=conv.id, inbox_id=world.inbox_id, direction="out",
                            text="risposta", attachments=[], status="sent",
                            created_at=start + timedelta(minutes=10 + i)))  # fmt: skip
    session.add(Message(conversation_id=conv.id, inbox_id=world.inbox_id, direction="note",
                        text="nota", attachments=[], status="sent", created_at=start))  # fmt: skip
    if rating is not None:
        session.add(CsatResponse(conversation_id=conv.id, rating=rating, created_at=start))
    return conv.id


@pytest.fixture
async def fixed(db: async_sessionmaker[AsyncSession], world: World) -> Fixed:
    """Five contacts whose signals are computed by hand in the tests below."""
    cohort = f"c-{secrets.token_hex(4)}"
    now = utcnow()

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    ids: dict[str, int] = {}
    async with db() as session, session.begin():
        for key, stage, attrs in (
            ("a", "customer", {"plan": "gold"}), ("b", "lead", {"plan": "free"}),
            ("c", "prospect", {}), ("d", "lead", {}), ("e", "lead", {"orders": 3}),
        ):  # fmt: skip
            contact = Contact(name=f"Cliente {key}", lifecycle_stage=stage,
                              attributes={"cohort": cohort, **attrs})  # fmt: skip
            session.add(contact)
            await session.flush()
            ids[key] = contact.id
        # A: three worsening negatives on Telegram, one reply after 2 minutes, CSAT 2.
        await _conversation(session, world, ids["a"], "telegram", ago(10),
                            [(ago(9), -0.5), (ago(8), -0.6), (ago(7), -0.7)], outbound=1,
                            first_response_s=120, labels=["reso"], rating=2)  # fmt: skip
        # B: happy on the website, answered after 5 minutes, CSAT 5.
        await _conversation(session, world, ids["b"], "website", ago(6),
                            [(ago(5), 0.5), (ago(5) + timedelta(hours=1), 0.6)], outbound=2,
                            first_response_s=300, labels=["vip"], rating=5)  # fmt: skip
        # C: positive by email 60 days ago, negative on Telegram 2 days ago.
        await _conversation(session, world, ids["c"], "email", ago(61), [(ago(60), 0.2)],
                            labels=["vip", "reso"])  # fmt: skip
        await _conversation(session, world, ids["c"], "telegram", ago(3), [(ago(2), -0.4)])
        # D: one negative message 100 days ago.
        await _conversation(session, world, ids["d"], "website", ago(101), [(ago(100), -0.8)])
        # E: never wrote.
    return Fixed(cohort, ids, now)


async def _signals(
    db: async_sessionmaker[AsyncSession], fixed: Fixed
) -> dict[str, signals.ContactSignals]:
    async with db() as session:
        found = await signals.for_contacts(session, list(fixed.ids.values()), fixed.now)
    by_id = {s.contact_id: s for s in found}
    return {key: by_id[cid] for key, cid in fixed.ids.items()}


async def test_signals_of_a_fixed_data_set(
    db: async_sessionmaker[AsyncSession], fixed: Fixed
) -> None:
    s = await _signals(db, fixed)
    a, b, c, d, e = s["a"], s["b"], s["c"], s["d"], s["e"]
    assert a.channels == ["telegram"] and c.channels == ["email", "telegram"] and e.channels == []
    assert (a.messages_in, a.messages_out, b.messages_in, b.messages_out) == (3, 1, 2, 2)
    assert a.sentiment_avg_30d == pytest.approx(-0.6) and a.sentiment_avg_90d == pytest.approx(-0.6)
    assert b.sentiment_avg_30d == pytest.approx(0.55)
    assert c.sentiment_avg_30d == pytest.approx(-0.4) and c.sentiment_avg_90d == pytest.approx(-0.1)
    assert d.sentiment_avg_30d is None and d.sentiment_avg_90d is None
    assert (a.negative_streak, b.negative_streak, c.negative_streak, d.negative_streak) == (
        3,
        0,
        1,
        1,
    )
    assert a.sentiment_trend == "worsening" and b.sentiment_trend is None
    assert a.sentiment_current == pytest.approx(sentiment_rollups.current([-0.5, -0.6, -0.7]))
    assert (a.first_response_median_s, b.first_response_median_s, c.first_response_median_s) == (
        120,
        300,
        None,
    )
    assert (a.csat_avg, a.csat_count, b.csat_avg, c.csat_count) == (2.0, 1, 5.0, 0)
    assert a.labels == ["reso"] and c.labels == ["reso", "vip"]
    assert a.lifecycle_stage == "customer" and a.attributes["plan"] == "gold"
    assert d.last_interaction is not None
    assert abs((fixed.now - d.last_interaction).total_seconds() - 100 * 86400) < 2
    assert e.first_interaction is None and e.messages_in == 0 and e.sentiment_current is None
    # Notes are neither interactions nor messages: A's note at the conversation's start.
    assert a.first_interaction is not None and a.first_interaction > fixed.now - timedelta(days=10)
    # The console's per-contact view agrees with the bulk computation.
    async with db() as session:
        one = await sentiment_rollups.contact(session, fixed.ids["a"], fixed.now)
    assert one == {"current": a.sentiment_current, "trend": "worsening", "avg_30d": -0.6,
                   "avg_90d": -0.6, "negative_streak": 3}  # fmt: skip
    assert "segreto" not in json.dumps([x.as_dict() for x in s.values()])


async def test_a_long_negative_streak_is_counted_past_the_window(
    db: async_sessionmaker[AsyncSession], world: World
) -> None:
    now = utcnow()
    async with db() as session, session.begin():
        contact = Contact(name="Arrabbiato", attributes={})
        session.add(contact)
        await session.flush()
        scores = [(now - timedelta(hours=30), 0.4)] + [
            (now - timedelta(hours=24 - i), -0.3) for i in range(14)
        ]
        await _conversation(session, world, contact.id, "website", now - timedelta(days=2), scores)
    async with db() as session:
        (s,) = await signals.for_contacts(session, [contact.id], now)
        one = await sentiment_rollups.contact(session, contact.id, now)
    assert s.negative_streak == 14 == one["negative_streak"]


SEGMENT_CASES = [
    ({"signal": "sentiment_avg_30d", "op": "<", "value": -0.3}, {"a", "c"}),
    ({"all": [{"signal": "sentiment_avg_30d", "op": "<", "value": -0.3},
              {"signal": "channels", "op": "contains", "value": "telegram"}]}, {"a", "c"}),
    ({"any": [{"signal": "csat_avg", "op": ">=", "value": 4},
              {"signal": "negative_streak", "op": ">=", "value": 3}]}, {"a", "b"}),
    ({"signal": "last_interaction", "op": "older_than_days", "value": 90}, {"d"}),
    ({"signal": "last_interaction", "op": "within_days", "value": 30}, {"a", "b", "c"}),
    ({"signal": "channels", "op": "is_empty"}, {"e"}),
    ({"signal": "sentiment_trend", "op": "=", "value": "worsening"}, {"a"}),
    ({"signal": "lifecycle_stage", "op": "in", "value": ["customer", "prospect"]}, {"a", "c"}),
    ({"signal": "attribute", "key": "plan", "op": "=", "value": "gold"}, {"a"}),
    ({"signal": "attribute", "key": "orders", "op": ">", "value": 2}, {"e"}),
    ({"signal": "first_response_median_s", "op": ">", "value": 200}, {"b"}),
    ({"signal": "labels", "op": "contains_any", "value": ["VIP"]}, {"b", "c"}),
    ({"not": {"signal": "sentiment_avg_90d", "op": "is_null"}}, {"a", "b", "c"}),
    ({"signal": "labels", "op": "contains", "value": "x' OR 1=1 --"}, set()),
    ({"signal": "attribute", "key": "plan", "op": "=", "value": "gold' OR '1'='1"}, set()),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "expected"), SEGMENT_CASES)
async def test_segment_counts_match_hand_computed_values(
    db: async_sessionmaker[AsyncSession], fixed: Fixed, rule: dict[str, object], expected: set[str]
) -> None:
    scoped = {
        "all": [{"signal": "attribute", "key": "cohort", "op": "=", "value": fixed.cohort}, rule]
    }
    async with db() as session:
        assert await segments.count(session, scoped, fixed.now) == len(expected)
        members, cursor = await segments.members(session, scoped, fixed.now, limit=2)
        while cursor is not None:
            more, cursor = await segments.members(
                session, scoped, fixed.now, after_id=cursor, limit=2
            )
            members += more
    names = {k for k, v in fixed.ids.items() if v in {m.contact_id for m in members}}
    assert names == expected


async def test_injection_attempts_are_data_and_stored_as_such(
    db: async_sessionmaker[AsyncSession], fixed: Fixed
) -> None:
    evil = "x' OR 1=1 --"
    rules = {"all": [{"signal": "attribute", "key": "cohort", "op": "=", "value": fixed.cohort},
                     {"signal": "lifecycle_stage", "op": "=", "value": evil}]}  # fmt: skip
    async with db() as session, session.begin():
        seg = await segments.create(session, f"{evil} {fixed.cohort}", rules, None)
    async with db() as session:
        stored = await session.get(Segment, seg.id)
        assert stored is not None and stored.rules == rules and stored.name.startswith(evil)
        assert await segments.count(session, stored.rules, fixed.now) == 0
        assert await session.scalar(select(Contact.id).where(Contact.id == fixed.ids["a"]))
    for bad in (
        {"signal": "channels; DROP TABLE contacts", "op": "contains", "value": "x"},
        {"signal": "channels", "op": "= 1 OR 1=1", "value": "x"},
        {"signal": "sentiment_avg_30d", "op": "<", "value": "0 OR 1=1"},
        {"signal": "attribute", "key": "a' OR '1", "op": "=", "value": "x"},
        {"signal": "channels", "op": "contains", "value": "x", "sql": "1=1"},
        {"all": {"signal": "channels"}},
        {"all": [], "any": []},
        {"signal": "last_interaction", "op": "older_than_days", "value": True},
        {"signal": "labels", "op": "is_empty", "value": "x"},
        "channels contains telegram",
    ):
        with pytest.raises(segments.InvalidRule):
            segments.validate(bad)
    deep: dict[str, object] = {"signal": "messages_in", "op": ">", "value": 1}
    for _ in range(segments.MAX_DEPTH + 1):
        deep = {"not": deep}
    with pytest.raises(segments.InvalidRule, match="deeper"):
        segments.validate(deep)


async def test_csv_export_flattens_lists_and_defuses_formulas(
    db: async_sessionmaker[AsyncSession], fixed: Fixed
) -> None:
    async with db() as session, session.begin():
        contact = await session.get(Contact, fixed.ids["b"])
        assert contact is not None
        contact.name = '=HYPERLINK("http://evil")'
    predicate = segments.compile_rules(
        {"signal": "attribute", "key": "cohort", "op": "=", "value": fixed.cohort}, fixed.now
    )
    async with db() as session:
        text = "".join([p async for p in signals.export(session, "csv", fixed.now, predicate)])
        lines = [p async for p in signals.export(session, "ndjson", fixed.now, predicate)]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["contact_id"]) for r in rows] == sorted(fixed.ids.values())
    by_id = {int(r["contact_id"]): r for r in rows}
    assert by_id[fixed.ids["c"]]["channels"] == "email;telegram"
    assert by_id[fixed.ids["b"]]["name"].startswith("'=")
    assert json.loads(by_id[fixed.ids["a"]]["attributes"])["plan"] == "gold"
    records = [json.loads(line) for line in "".join(lines).splitlines()]
    assert [r["contact_id"] for r in records] == sorted(fixed.ids.values())
    assert "segreto" not in text and "segreto" not in "".join(lines)


# ---- 100 000 contacts, streamed in bounded memory ----------------------------------------

N_CONTACTS = 100_000
BATCH = 2000


def _rss() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Sink:
    """Counts what an export writes without keeping it, sampling the process's memory."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0
        self.base = _rss()
        self.peak = self.base

    def write(self, piece: str) -> None:
        self.bytes += len(piece)
        self.lines += piece.count("\n")
        self.peak = max(self.peak, _rss())


@pytest.fixture
def big_url(tmp_path: Path) -> str:
    """A SQLite database of its own: 100 000 contacts in the shared one would slow every
    later test that counts segments, and deleting them (foreign keys checked row by row)
    takes minutes."""
    url = f"sqlite:///{tmp_path / 'big.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
async def big_db(big_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(big_url)
    yield sessionmaker(engine)
    await engine.dispose()


async def test_export_of_100k_contacts_streams_in_bounded_memory(
    big_db: async_sessionmaker[AsyncSession],
) -> None:
    db = big_db
    cohort = f"big-{secrets.token_hex(4)}"
    now = utcnow()
    started = time.perf_counter()
    async with db() as session, session.begin():
        inbox = Inbox(name="big", channel="website", settings={})
        session.add(inbox)
        await session.flush()
        for start in range(0, N_CONTACTS, BATCH):
            await session.execute(
                insert(Contact.__table__),
                [
                    {"name": f"Cliente {i}", "email": f"c{i}@{cohort}.test",
                     "lifecycle_stage": ("lead", "prospect", "customer")[i % 3],
                     "attributes": {"cohort": cohort, "n": i}, "insert_key": secrets.token_hex(16),
                     "created_at": now, "updated_at": now}
                    for i in range(start, min(start + BATCH, N_CONTACTS))
                ],
            )  # fmt: skip
        first_id = await session.scalar(
            select(Contact.id).where(Contact.email == f"c0@{cohort}.test")
        )
        assert first_id is not None
        # Every 50th contact wrote once and got an answer.
        convs = [
            {"inbox_id": inbox.id, "contact_id": first_id + i, "channel": "website",
             "status": "resolved", "threaded": True, "labels": [], "priority": "normal",
             "insert_key": secrets.token_hex(16), "created_at": now - timedelta(days=1),
             "updated_at": now, "first_response_at": now - timedelta(days=1) + timedelta(minutes=3)}
            for i in range(0, N_CONTACTS, 50)
        ]  # fmt: skip
        await session.execute(insert(Conversation.__table__), convs)
        conv_ids = list(
            await session.scalars(
                select(Conversation.id).where(Conversation.contact_id >= first_id,
                                              Conversation.contact_id < first_id + N_CONTACTS)
            )
        )  # fmt: skip
        msgs = [
            {"conversation_id": cid, "inbox_id": inbox.id, "direction": d, "text": "ciao",
             "attachments": [], "status": "received", "attempts": 0,
             "insert_key": secrets.token_hex(16), "sentiment_score": -0.4 if d == "in" else None,
             "sentiment_label": "negative" if d == "in" else None,
             "created_at": now - timedelta(hours=20)}
            for cid in conv_ids for d in ("in", "out")
        ]  # fmt: skip
        for start in range(0, len(msgs), BATCH):
            await session.execute(insert(Message.__table__), msgs[start : start + BATCH])
    inserted = time.perf_counter() - started
    predicate = segments.compile_rules(
        {"signal": "attribute", "key": "cohort", "op": "=", "value": cohort}, now
    )
    # Resident memory is sampled after each chunk (tracemalloc would slow this tenfold).
    # CSV only, to stay within a minute on a busy machine; NDJSON streams the same chunks.
    for fmt in ("csv",):
        gc.collect()
        sink = _Sink()
        t0 = time.perf_counter()
        async with db() as session:
            async for piece in signals.export(session, fmt, now, predicate):
                sink.write(piece)
        elapsed = time.perf_counter() - t0
        rows = sink.lines - (1 if fmt == "csv" else 0)
        growth = sink.peak - sink.base
        print(
            f"\nexport {fmt}: {rows} contacts, {sink.bytes / 1e6:.1f} MB in {elapsed:.1f} s "
            f"({rows / elapsed:,.0f}/s); resident memory {sink.base / 1e6:.0f} MB before, "
            f"peak {sink.peak / 1e6:.0f} MB (+{growth / 1e6:.1f} MB); "
            f"data set inserted in {inserted:.1f} s"
        )
        assert rows == N_CONTACTS
        assert growth < 60e6, f"+{growth / 1e6:.0f} MB: the export holds too much"


def test_rules_are_bounded_in_size_not_only_in_conditions() -> None:
    """Empty groups cost evaluation time per contact and say nothing: below the top they
    are refused, and groups count towards the size limit like conditions do."""
    with pytest.raises(segments.InvalidRule, match="empty group"):
        segments.validate({"any": [{"all": []}]})
    many_groups = {"any": [{"not": {"signal": "messages_in", "op": ">", "value": 1}}] * 150}
    with pytest.raises(segments.InvalidRule, match="groups and conditions"):
        segments.validate(many_groups)
    wide = {"all": [{"all": [{"signal": "messages_in", "op": ">", "value": i}]} for i in range(90)]}
    assert segments.validate(wide) == wide  # 181 nodes, 90 conditions: fine
    assert segments.validate({"all": []}) == {"all": []}  # everyone, at the top
    now = datetime.now(UTC)
    assert segments.compile_rules({"all": []}, now)(None) is True  # type: ignore[arg-type]
    assert segments.compile_rules({"any": []}, now)(None) is False  # type: ignore[arg-type]


async def test_empty_and_erased_contacts_are_left_out_of_exports(
    db: async_sessionmaker[AsyncSession], fixed: Fixed
) -> None:
    cohort = {"cohort": fixed.cohort}
    async with db() as session, session.begin():
        empty = Contact(attributes=cohort)  # a page view's visitor who never wrote
        erased = Contact(name="Cancellato", attributes=cohort, erased_at=fixed.now)
        session.add_all([empty, erased])
    predicate = segments.compile_rules(
        {"signal": "attribute", "key": "cohort", "op": "=", "value": fixed.cohort}, fixed.now
    )
    async with db() as session:
        lines = [p async for p in signals.export(session, "ndjson", fixed.now, predicate)]
    exported = {json.loads(x)["contact_id"] for x in "".join(lines).splitlines()}
    assert exported == set(fixed.ids.values())
