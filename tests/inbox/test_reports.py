"""Report figures against values computed by hand on a fixed data set (an early-March week
in 2031 or later that no other test writes to; each test gets its own)."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox import reports
from inbox.model import Agent, Contact, Conversation, CsatResponse, Inbox, Message, Team

FIRST = datetime(2031, 3, 3, tzinfo=UTC)  # a Monday; 364 days later is a Monday again
# A week of its own for each test, far from any other run's (a database may be reused).
ROME = ZoneInfo("Europe/Rome")
_weeks = itertools.count(secrets.randbelow(4000))


@pytest.fixture
async def week(db: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    start = FIRST + timedelta(days=364 * next(_weeks))

    def at(day: int, hh: int, mm: int = 0) -> datetime:
        return start + timedelta(days=day, hours=hh, minutes=mm)

    tag = secrets.token_hex(3)
    async with db() as session, session.begin():
        t1, t2 = Team(name=f"web-{tag}"), Team(name=f"tg-{tag}")
        x = Agent(email=f"x-{tag}@example.test", name="Xenia", password_hash="-")
        y = Agent(email=f"y-{tag}@example.test", name="Yuri", password_hash="-")
        session.add_all([t1, t2, x, y])
        await session.flush()
        a = Inbox(name=f"A-{tag}", channel="website", team_id=t1.id, settings={})
        b = Inbox(name=f"B-{tag}", channel="telegram", team_id=t2.id, settings={})
        session.add_all([a, b])
        await session.flush()

        async def conversation(inbox: Inbox, team: Team, agent: Agent, labels: list[str],
                               messages: list[tuple[str, datetime]],
                               resolved: datetime | None) -> Conversation:  # fmt: skip
            contact = Contact(name="c", attributes={})
            session.add(contact)
            await session.flush()
            first_out = next((t for d, t in messages if d == "out"), None)
            conv = Conversation(
                inbox_id=inbox.id, contact_id=contact.id, channel=inbox.channel, team_id=team.id,
                assignee_id=agent.id, labels=labels, created_at=messages[0][1],
                first_response_at=first_out, resolved_at=resolved,
                status="resolved" if resolved else "open", csat_requested_at=resolved,
            )  # fmt: skip
            session.add(conv)
            await session.flush()
            for direction, when in messages:
                session.add(
                    Message(conversation_id=conv.id, inbox_id=inbox.id, direction=direction,
                            text="…", attachments=[], created_at=when,
                            status="received" if direction == "in" else "sent",
                            author_agent_id=agent.id if direction == "out" else None)
                )  # fmt: skip
            return conv

        c1 = await conversation(a, t1, x, ["vip"], [("in", at(0, 9)), ("out", at(0, 9, 2)),
                                ("in", at(0, 9, 10)), ("out", at(0, 9, 20))], at(0, 10))  # fmt: skip
        await conversation(a, t1, y, [], [("in", at(0, 11)), ("in", at(0, 11, 1)),
                                ("note", at(0, 11, 3)), ("out", at(0, 11, 6))], None)  # fmt: skip
        c3 = await conversation(b, t2, x, ["vip"], [("in", at(1, 20, 30)), ("out", at(1, 21, 30))],
                                at(2, 8, 30))  # fmt: skip
        await session.flush()
        session.add_all([
            CsatResponse(conversation_id=c1.id, rating=5, created_at=at(0, 10, 5)),
            CsatResponse(conversation_id=c3.id, rating=3, created_at=at(2, 9)),
        ])  # fmt: skip
        return {"a": a.id, "b": b.id, "x": x.id, "y": y.id, "c1": c1.id,
                "start": start, "end": start + timedelta(days=7)}  # fmt: skip


async def test_totals_match_the_hand_computed_figures(
    db: async_sessionmaker[AsyncSession], week: dict[str, Any]
) -> None:
    async with db() as session:
        body = await reports.summary(session, week["start"], week["end"])
    (total,) = body["groups"]
    assert total["conversations"] == 3
    assert (total["messages_in"], total["messages_out"]) == (5, 4)  # notes are not messages out
    # first responses 120 s, 360 s, 3600 s; waits 120, 600, 360, 3600; resolutions 3600, 43200
    assert total["first_response"] == {"count": 3, "median": 360.0, "p90": 3600.0}
    assert total["waiting"] == {"count": 4, "median": 360.0, "p90": 3600.0}
    assert total["resolution"] == {"count": 2, "median": 3600.0, "p90": 43200.0}
    assert total["csat"]["average"] == 4.0 and total["csat"]["distribution"]["5"] == 1


async def test_groups_by_label_channel_and_agent(
    db: async_sessionmaker[AsyncSession], week: dict[str, Any]
) -> None:
    async with db() as session:
        by_label = {
            g["key"]: g
            for g in (await reports.summary(session, week["start"], week["end"], "label"))["groups"]
        }
        by_channel = {
            g["key"]: g
            for g in (await reports.summary(session, week["start"], week["end"], "channel"))[
                "groups"
            ]
        }
        by_agent = {
            g["key"]: g
            for g in (await reports.summary(session, week["start"], week["end"], "agent"))["groups"]
        }
    assert by_label["vip"]["conversations"] == 2 and by_label["(none)"]["conversations"] == 1
    assert by_label["vip"]["first_response"]["median"] == 120.0
    assert by_channel["telegram"]["resolution"]["median"] == 43200.0
    assert by_channel["website"]["waiting"]["count"] == 3
    xenia = by_agent[str(week["x"])]
    assert xenia["name"] == "Xenia" and xenia["conversations"] == 2 and xenia["csat"]["count"] == 2
    with pytest.raises(reports.InvalidReport):
        async with db() as session:
            await reports.summary(
                session, week["start"], week["end"], "country; DROP TABLE messages"
            )


async def test_heatmap_counts_in_the_inbox_zone(
    db: async_sessionmaker[AsyncSession], week: dict[str, Any]
) -> None:
    async with db() as session:
        web = await reports.heatmap(session, week["start"], week["end"], week["a"])
        tg = await reports.heatmap(session, week["start"], week["end"], week["b"])
    assert web["zone"] == "Europe/Rome"

    def rome_hour(day: int, hh: int, mm: int = 0) -> int:
        return (week["start"] + timedelta(days=day, hours=hh, minutes=mm)).astimezone(ROME).hour

    # 09:00 and 09:10 UTC are 10:xx in Rome in winter (11:xx in summer); 11:00 and 11:01 UTC
    # two hours later.
    assert web["cells"][0][rome_hour(0, 9)] == 2 and web["cells"][0][rome_hour(0, 11)] == 2
    assert sum(map(sum, web["cells"])) == 4
    assert tg["cells"][1][rome_hour(1, 20, 30)] == 1  # Tuesday 20:30 UTC
