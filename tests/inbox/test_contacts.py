"""One customer across channels (suggestions, merge, undo) and lifecycle stages, against the
real database (SQLite, or PostgreSQL with CROCEVIA_TEST_DATABASE_URL)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox import contacts, lifecycle
from inbox.access import Viewer
from inbox.ingest import Ingested, ingest_many
from inbox.model import (
    AuditEntry,
    Contact,
    ContactMerge,
    Conversation,
    Identity,
    Inbox,
    LifecycleChange,
    Message,
    Outbox,
    utcnow,
)
from inbox.types import Channel, InboundMessage, Sender
from inbox.writes import InGreenlet

ADMIN = Viewer(agent_id=0, role="admin", team_ids=frozenset())
Sessions = async_sessionmaker[AsyncSession]


async def new_inbox(db: Sessions, channel: str) -> int:
    async with db() as session, session.begin():
        inbox = Inbox(name=f"{channel}-{secrets.token_hex(3)}", channel=channel, settings={})
        session.add(inbox)
        await session.flush()
        return inbox.id


async def say(db: Sessions, channel: Channel, inbox_id: int, sender: Sender, text: str,
              **kw: object) -> Ingested:  # fmt: skip
    item = InboundMessage(channel=channel, inbox_id=inbox_id, external_id=secrets.token_hex(8),
                          sender=sender, text=text, **kw)  # type: ignore[arg-type]  # fmt: skip
    (result,), _ = await ingest_many(InGreenlet(db), [item])
    assert isinstance(result, Ingested)
    return result


def mobile() -> str:
    """A random valid Italian mobile number, national form (3331234567)."""
    return "333" + "".join(secrets.choice("0123456789") for _ in range(7))


async def ids_of(db: Sessions, model: type, **where: object) -> list[int]:
    async with db() as session:
        q = select(model.id)  # type: ignore[attr-defined]
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return sorted(await session.scalars(q))


async def test_normalising_emails_and_phones() -> None:
    assert contacts.normal_email("  Giulia.Rossi@Example.IT ") == "giulia.rossi@example.it"
    assert contacts.normal_email("not an address") is None
    for written in ("+39 333 1234567", "3331234567", "0039 333 123 4567", "333-123-45-67"):
        assert contacts.normal_phone(written) == "+393331234567"
    assert contacts.normal_phone("+44 20 7946 0958") == "+442079460958"
    assert contacts.normal_phone("12") is None and contacts.normal_phone("abc") is None


async def test_suggestions_by_phone_in_different_formats_by_email_and_by_whatsapp(
    db: Sessions,
) -> None:
    number, tag = mobile(), secrets.token_hex(4)
    async with db() as session, session.begin():
        me = Contact(name="Giulia", phone=f"+39 {number[:3]} {number[3:]}",
                     email=f" Giulia.{tag}@Example.it", attributes={})  # fmt: skip
        same_phone = Contact(name="G. Rossi", phone=number, attributes={})
        same_email = Contact(name="giulia r", email=f"giulia.{tag}@example.it", attributes={})
        on_whatsapp = Contact(name="WA", attributes={})
        stranger = Contact(name="Other", phone=mobile(), email=f"x.{tag}@example.it", attributes={})
        session.add_all([me, same_phone, same_email, on_whatsapp, stranger])
        await session.flush()
        session.add(
            Identity(channel="whatsapp", external_id=f"39{number}", contact_id=on_whatsapp.id)
        )
        await session.flush()
        found = await contacts.suggestions(session, me, ADMIN)
        reasons = {s["contact"]["id"]: s["reasons"] for s in found}
        assert reasons == {same_phone.id: ["phone"], same_email.id: ["email"],
                           on_whatsapp.id: ["phone"]}  # fmt: skip
        assert next(s for s in found if s["contact"]["id"] == on_whatsapp.id)["channels"] == [
            "whatsapp"
        ]
        # Marketing sees no contacts; an agent only those with a conversation they may see.
        assert await contacts.suggestions(session, me, Viewer(1, "marketing", frozenset())) == []
        assert await contacts.suggestions(session, me, Viewer(1, "agent", frozenset())) == []
        # A merge that was undone says these are two people: not suggested again.
        row = await contacts.merge(session, me.id, same_phone.id, actor_agent_id=None)
        await contacts.undo(session, row.id, actor_agent_id=None)
        after = {s["contact"]["id"] for s in await contacts.suggestions(session, me, ADMIN)}
        assert after == {same_email.id, on_whatsapp.id}


async def test_merge_and_undo_with_conversations_on_three_channels(db: Sessions) -> None:
    web, tg, mail = [await new_inbox(db, c) for c in ("website", "telegram", "email")]
    tag = secrets.token_hex(4)
    a = await say(db, Channel.WEBSITE, web, Sender(f"v-{tag}", name="Giulia"), "Ciao dal sito")
    b = await say(db, Channel.TELEGRAM, tg, Sender(f"tg-{tag}", name="Giulia R", handle="giuliar",
                                                   phone="+393330000000"), "Ciao da Telegram")  # fmt: skip
    c = await say(db, Channel.EMAIL, mail, Sender(f"giulia.{tag}@example.it", email=f"giulia.{tag}@example.it"),
                  "Ciao per email", subject="Ordine")  # fmt: skip
    kept, one, two = a.contact.id, b.contact.id, c.contact.id
    before = {cid: (await ids_of(db, Identity, contact_id=cid), await ids_of(db, Conversation, contact_id=cid),
                    await ids_of(db, Message, author_contact_id=cid))
              for cid in (kept, one, two)}  # fmt: skip
    async with db() as session, session.begin():
        await lifecycle.set_stage(
            session, await session.get_one(Contact, one), "customer", source="agent"
        )
    history_of_one = await ids_of(db, LifecycleChange, contact_id=one)

    merges = []
    for other in (one, two):
        outbox: list[Outbox] = []
        async with db() as session, session.begin():
            row = await contacts.merge(session, kept, other, actor_agent_id=None, outbox=outbox)
            merges.append(row.id)
            assert row.moved["identities"] == before[other][0]
            assert row.moved["conversations"] == before[other][1]
            assert row.moved["messages"] == before[other][2]
            assert [e.event for e in outbox] == ["conversation.updated"] * len(before[other][1])
            assert outbox[0].payload["contact_merge"]["merged_contact_id"] == other
            assert outbox[0].payload["conversation"]["contact"]["id"] == kept
    assert merges[0] and (await ids_of(db, LifecycleChange, contact_id=one)) == []
    async with db() as session:
        k = await session.get_one(Contact, kept)
        assert k.lifecycle_stage == "customer"  # the merged contact was further along
        assert k.email == f"giulia.{tag}@example.it" and k.phone == "+393330000000"  # filled in
        assert (await session.get_one(Contact, one)).merged_into_id == kept
        channels = set(
            await session.scalars(select(Identity.channel).where(Identity.contact_id == kept))
        )
        assert channels == {"website", "telegram", "email"}
        convs = set(
            await session.scalars(
                select(Conversation.channel).where(Conversation.contact_id == kept)
            )
        )
        assert convs == {"website", "telegram", "email"}
        audit = (await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "contact.merged", AuditEntry.target_id == str(kept))
        )).all()  # fmt: skip
        assert {e.details["merge_id"] for e in audit} == set(merges)
    # The customer writes again on Telegram: it reaches the kept contact.
    later = await say(db, Channel.TELEGRAM, tg, Sender(f"tg-{tag}"), "Ci sono novità?")
    assert later.contact.id == kept and later.conversation.id == before[one][1][0]

    for merge_id in reversed(merges):
        async with db() as session, session.begin():
            row = await contacts.undo(session, merge_id, actor_agent_id=None)
            assert row.undone_at is not None
    for cid in (kept, one, two):
        assert await ids_of(db, Identity, contact_id=cid) == before[cid][0]
        assert await ids_of(db, Conversation, contact_id=cid) == before[cid][1]
    # What the customer wrote since went back with the Telegram conversation.
    assert await ids_of(db, Message, author_contact_id=one) == sorted(
        [*before[one][2], later.message.id]
    )
    assert await ids_of(db, LifecycleChange, contact_id=one) == history_of_one
    async with db() as session:
        k = await session.get_one(Contact, kept)
        assert (k.lifecycle_stage, k.email, k.phone) == ("lead", None, None)
        assert (await session.get_one(Contact, one)).merged_into_id is None
        undone = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "contact.merge_undone",
                                                               AuditEntry.target_id == str(kept))
        )  # fmt: skip
        assert undone == 2
        with pytest.raises(contacts.UndoRefused, match="undone already"):
            await contacts.undo(session, merges[0], actor_agent_id=None)


async def test_two_open_chats_in_one_inbox_are_folded_and_unfolded(db: Sessions) -> None:
    web = await new_inbox(db, "website")
    a = await say(db, Channel.WEBSITE, web, Sender(secrets.token_hex(6)), "Prima chat")
    b = await say(db, Channel.WEBSITE, web, Sender(secrets.token_hex(6)), "Seconda chat")
    async with db() as session, session.begin():
        row = await contacts.merge(session, a.contact.id, b.contact.id, actor_agent_id=None)
        (fold,) = row.moved["folded"]
        assert fold == {**fold, "conversation_id": b.conversation.id, "into_id": a.conversation.id,
                        "messages": [b.message.id], "status": "open"}  # fmt: skip
    async with db() as session:
        assert (await session.get_one(Message, b.message.id)).conversation_id == a.conversation.id
        folded = await session.get_one(Conversation, b.conversation.id)
        assert (folded.status, folded.contact_id) == ("resolved", a.contact.id)
    async with db() as session, session.begin():
        await contacts.undo(session, row.id, actor_agent_id=None)
    async with db() as session:
        assert (await session.get_one(Message, b.message.id)).conversation_id == b.conversation.id
        back = await session.get_one(Conversation, b.conversation.id)
        assert (back.status, back.contact_id, back.resolved_at) == ("open", b.contact.id, None)
        assert (await session.get_one(Conversation, a.conversation.id)).status == "open"


async def test_undo_is_refused_after_a_day_and_odd_merges_are_refused(db: Sessions) -> None:
    web = await new_inbox(db, "website")
    a = await say(db, Channel.WEBSITE, web, Sender(secrets.token_hex(6)), "uno")
    b = await say(db, Channel.WEBSITE, web, Sender(secrets.token_hex(6)), "due")
    merged_at = datetime(2030, 5, 4, 10, 0, tzinfo=UTC)
    async with db() as session, session.begin():
        row = await contacts.merge(
            session, a.contact.id, b.contact.id, actor_agent_id=None, now=merged_at
        )
    async with db() as session, session.begin():
        with pytest.raises(contacts.MergeRefused, match="into itself"):
            await contacts.merge(session, a.contact.id, a.contact.id, actor_agent_id=None)
        with pytest.raises(contacts.MergeRefused, match="merged into"):
            await contacts.merge(session, a.contact.id, b.contact.id, actor_agent_id=None)
        with pytest.raises(contacts.UndoRefused, match="within 24 hours"):
            await contacts.undo(
                session, row.id, actor_agent_id=None, now=merged_at + timedelta(hours=25)
            )
    async with db() as session, session.begin():  # just inside the day: fine
        await contacts.undo(
            session, row.id, actor_agent_id=None, now=merged_at + timedelta(hours=23)
        )


async def test_lifecycle_by_agent_by_site_attributes_and_by_rules(db: Sessions) -> None:
    web = await new_inbox(db, "website")
    first = await say(db, Channel.WEBSITE, web, Sender(secrets.token_hex(6)), "Salve")
    cid = first.contact.id
    now = utcnow()
    async with db() as session, session.begin():  # the first message makes a lead (by rule)
        for _ in range(100):
            if not await lifecycle.apply_rules(session, now, []):
                break
    async with db() as session, session.begin():
        (start,) = await lifecycle.history(session, cid)
        assert (start["from_stage"], start["to_stage"], start["source"]) == (None, "lead", "rule")
        contact = await session.get_one(Contact, cid)
        await lifecycle.set_stage(session, contact, "prospect", source="agent", actor_agent_id=None,
                                  now=now + timedelta(seconds=1))  # fmt: skip
        with pytest.raises(lifecycle.InvalidStage):
            await lifecycle.set_stage(session, contact, "vip", source="agent")
        before = dict(contact.attributes)
        contact.attributes = {"orders_count": 0}
        assert await lifecycle.apply_site_attributes(session, contact, before) is None
        contact.attributes = {"orders_count": 1}
        change = await lifecycle.apply_site_attributes(
            session, contact, {"orders_count": 0}, now + timedelta(seconds=2)
        )
        assert change is not None and (change.to_stage, change.source) == ("customer", "site")
    # Half a year without a word: churned, by rule. A new order makes a customer again.
    later = now + lifecycle.CHURN_AFTER + timedelta(days=1)
    async with db() as session, session.begin():
        for _ in range(100):
            if not await lifecycle.apply_rules(session, later, []):
                break
        contact = await session.get_one(Contact, cid)
        assert contact.lifecycle_stage == "churned"
        assert await lifecycle.apply_site_attributes(session, contact, {"orders_count": 1}) is None
        contact.attributes = {"orders_count": 2}
        again = await lifecycle.apply_site_attributes(
            session, contact, {"orders_count": 1}, later + timedelta(minutes=1)
        )
        assert again is not None
        steps = [(h["to_stage"], h["source"]) for h in await lifecycle.history(session, cid)]
        assert steps == [("lead", "rule"), ("prospect", "agent"), ("customer", "site"),
                         ("churned", "rule"), ("customer", "site")]  # fmt: skip


async def test_funnel_counts_distinct_contacts_entering_each_stage(db: Sessions) -> None:
    t = datetime(2091, 3, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=secrets.randbelow(10**6))
    async with db() as session, session.begin():
        people = [
            Contact(name=f"f{i}", attributes={}, created_at=t - timedelta(days=1)) for i in range(4)
        ]
        session.add_all(people)
        await session.flush()
        for n, person in enumerate(people):
            await lifecycle.set_stage(session, person, "prospect", source="agent", now=t)
            if n < 2:
                await lifecycle.set_stage(
                    session, person, "customer", source="site", now=t + timedelta(minutes=5)
                )
        await lifecycle.set_stage(
            session, people[0], "churned", source="rule", now=t + timedelta(days=3)
        )
        window = await lifecycle.funnel(session, t - timedelta(hours=1), t + timedelta(hours=1))
        assert window == {"lead": 0, "prospect": 4, "customer": 2, "churned": 0}
        wide = await lifecycle.funnel(session, t - timedelta(days=2), t + timedelta(days=4))
        assert wide == {"lead": 4, "prospect": 4, "customer": 2, "churned": 1}


async def test_site_attributes_are_validated() -> None:
    assert contacts.clean_attributes({"orders_count": 3, "plan": "gold", "vip": True, "x": None}) == {
        "orders_count": 3, "plan": "gold", "vip": True, "x": None}  # fmt: skip
    for bad in ({"nested": {"a": 1}}, {"list": [1]}, {"": 1}, {"bad key": 1}, {"t": "x" * 501},
                {f"k{i}": i for i in range(51)}, {"inf": float("inf")}):  # fmt: skip
        with pytest.raises(contacts.InvalidContactField):
            contacts.clean_attributes(bad)
    with pytest.raises(contacts.InvalidContactField):
        contacts.clean_attributes(["not", "an", "object"])
    assert contacts.merge_attributes({"a": 1, "b": 2}, {"b": None, "c": 3}) == {"a": 1, "c": 3}


async def test_a_merge_records_only_ids(db: Sessions) -> None:
    web = await new_inbox(db, "website")
    a = await say(
        db, Channel.WEBSITE, web, Sender(secrets.token_hex(6), name="Segreta"), "testo segreto"
    )
    b = await say(
        db, Channel.WEBSITE, web, Sender(secrets.token_hex(6), name="Nascosta"), "altro testo"
    )
    async with db() as session, session.begin():
        row = await contacts.merge(session, a.contact.id, b.contact.id, actor_agent_id=None)
        as_text = repr(row.moved)
        assert "Nascosta" not in as_text and "testo" not in as_text
        merged = await session.get_one(ContactMerge, row.id)
        assert merged.moved["filled"] == []
