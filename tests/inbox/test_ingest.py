"""Ingest against the real database (SQLite, or PostgreSQL with CROCEVIA_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.db import create_engine, sessionmaker
from inbox.ingest import Ingested, UnknownInbox, ingest_many
from inbox.model import Contact, Conversation, Inbox, Message, Outbox
from inbox.types import Channel, InboundMessage, Sender
from inbox.writes import InGreenlet, Writes, writes_for


async def new_inbox(db: async_sessionmaker[AsyncSession], channel: str = "website") -> int:
    async with db() as session, session.begin():
        inbox = Inbox(name=f"in-{secrets.token_hex(3)}", channel=channel, settings={})
        session.add(inbox)
        await session.flush()
        return inbox.id


def msg(inbox_id: int, sender: str, ext: str, text: str = "ciao", channel: Channel = Channel.WEBSITE,
        **kw: object) -> InboundMessage:  # fmt: skip
    return InboundMessage(channel=channel, inbox_id=inbox_id, external_id=ext,
                          sender=Sender(external_id=sender, name=kw.pop("name", None)),  # type: ignore[arg-type]
                          text=text, **kw)  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture
async def writes(database_url: str, db: async_sessionmaker[AsyncSession]) -> AsyncIterator[Writes]:
    """The gateway's: a writer thread on SQLite, the async engine on PostgreSQL."""
    made = writes_for(database_url, db)
    yield made
    await made.close()


async def count(db: async_sessionmaker[AsyncSession], model: type, **where: object) -> int:
    async with db() as session:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return int((await session.execute(q)).scalar_one())


async def test_a_batch_with_repeats_stores_each_message_once(
    db: async_sessionmaker[AsyncSession],
    writes: Writes,
) -> None:
    inbox = await new_inbox(db)
    items = [msg(inbox, "v1", "a", name="Lucia"), msg(inbox, "v1", "a"), msg(inbox, "v2", "b"),
             msg(inbox, "v1", "c")]  # fmt: skip
    results, rows = await ingest_many(writes, items)
    assert all(isinstance(r, Ingested) for r in results)
    got = [r for r in results if isinstance(r, Ingested)]
    assert [r.created for r in got] == [True, False, True, True]
    assert got[0].message.id == got[1].message.id
    assert got[0].conversation.id == got[3].conversation.id != got[2].conversation.id
    assert got[0].contact.name == "Lucia"
    assert [r.event for r in rows] == ["conversation.created", "message.created", "conversation.created",
                                       "message.created", "message.created"]  # fmt: skip
    # Delivered again later: nothing new, no event.
    again, rows2 = await ingest_many(writes, [msg(inbox, "v1", "a")])
    assert isinstance(again[0], Ingested) and not again[0].created and rows2 == []
    assert await count(db, Message, inbox_id=inbox) == 3
    assert await count(db, Conversation, inbox_id=inbox) == 2


async def test_unknown_inbox_is_an_error_for_that_item_only(
    db: async_sessionmaker[AsyncSession],
    writes: Writes,
) -> None:
    inbox = await new_inbox(db)
    results, _ = await ingest_many(writes, [msg(inbox, "v", "x"), msg(10**9, "v", "y")])
    assert isinstance(results[0], Ingested) and isinstance(results[1], UnknownInbox)
    results, _ = await ingest_many(writes, [msg(inbox, "v", "z", channel=Channel.TELEGRAM)])
    assert isinstance(results[0], UnknownInbox)


async def test_the_database_refuses_a_second_open_chat_conversation(
    db: async_sessionmaker[AsyncSession],
    writes: Writes,
) -> None:
    inbox = await new_inbox(db)
    (first,), _ = await ingest_many(writes, [msg(inbox, "v", "1")])
    assert isinstance(first, Ingested)
    with pytest.raises(IntegrityError):
        async with db() as session, session.begin():
            session.add(Conversation(inbox_id=inbox, contact_id=first.contact.id, channel="website",
                                     status="open"))  # fmt: skip
    # Once resolved, a new one may open.
    async with db() as session, session.begin():
        conv = await session.get_one(Conversation, first.conversation.id)
        conv.status = "resolved"
    (second,), _ = await ingest_many(writes, [msg(inbox, "v", "2")])
    assert isinstance(second, Ingested) and second.conversation.id != first.conversation.id


async def test_racing_first_messages_open_one_conversation(
    db: async_sessionmaker[AsyncSession], writes: Writes, database_url: str
) -> None:
    # Writers of several processes at once: the gateway's (a writer thread on SQLite),
    # more of those, and the pollers' (the async engine).
    inbox = await new_inbox(db)
    others = [writes_for(database_url, db) for _ in range(2)]
    racers = [writes, *others, InGreenlet(db)]
    try:
        results = await asyncio.gather(
            *(ingest_many(racers[i % len(racers)], [msg(inbox, "racer", f"m{i}")])
              for i in range(8))
        )  # fmt: skip
    finally:
        for other in others:
            await other.close()
    convs = {r[0][0].conversation.id for r in results if isinstance(r[0][0], Ingested)}
    assert len(convs) == 1
    assert await count(db, Message, inbox_id=inbox) == 8
    assert await count(db, Contact) >= 1


async def test_email_threads_by_references_and_new_subjects_open_new_conversations(
    db: async_sessionmaker[AsyncSession],
    writes: Writes,
) -> None:
    inbox = await new_inbox(db, "email")
    e = Channel.EMAIL
    (a,), _ = await ingest_many(
        writes, [msg(inbox, "r@x.it", "<1@x.it>", channel=e, subject="Ordine 12")]
    )
    (b,), _ = await ingest_many(writes, [msg(inbox, "r@x.it", "<2@x.it>", channel=e, subject="Re: Ordine 12",
                                         thread_ids=("<1@x.it>",))])  # fmt: skip
    (c,), _ = await ingest_many(
        writes, [msg(inbox, "r@x.it", "<3@x.it>", channel=e, subject="Fattura")]
    )
    assert isinstance(a, Ingested) and isinstance(b, Ingested) and isinstance(c, Ingested)
    assert a.conversation.id == b.conversation.id != c.conversation.id
    assert c.conversation.threaded and c.conversation.subject == "Fattura"


async def test_an_edit_updates_the_stored_message(
    db: async_sessionmaker[AsyncSession], writes: Writes
) -> None:
    inbox = await new_inbox(db, "telegram")
    t = Channel.TELEGRAM
    await ingest_many(writes, [msg(inbox, "42", "42:7", "orine 5", channel=t)])
    (r,), rows = await ingest_many(
        writes, [msg(inbox, "42", "42:7", "ordine 5", channel=t, edited=True)]
    )
    assert isinstance(r, Ingested) and not r.created
    assert r.message.text == "ordine 5" and r.message.edited_at is not None
    assert [row.event for row in rows] == ["message.updated"]
    assert await count(db, Outbox) >= 1


async def test_an_edit_in_the_batch_that_stores_the_message_is_stored_too(
    db: async_sessionmaker[AsyncSession], writes: Writes
) -> None:
    inbox = await new_inbox(db, "telegram")
    t = Channel.TELEGRAM
    (first, again), rows = await ingest_many(
        writes,
        [msg(inbox, "43", "43:8", "orine 6", channel=t),
         msg(inbox, "43", "43:8", "ordine 6", channel=t, edited=True)],
    )  # fmt: skip
    assert isinstance(first, Ingested) and first.created
    assert isinstance(again, Ingested) and not again.created
    assert again.message.id == first.message.id and again.message.text == "ordine 6"
    assert [row.event for row in rows][-1] == "message.updated"
    async with db() as session:
        (stored,) = (
            await session.execute(select(Message).where(Message.inbox_id == inbox))
        ).scalars()
    assert stored.text == "ordine 6" and stored.edited_at is not None


async def test_a_message_the_database_refuses_fails_alone_not_its_batch(
    db: async_sessionmaker[AsyncSession], writes: Writes, database_url: str
) -> None:
    inbox = await new_inbox(db)
    good = [msg(inbox, f"visitor-{n}", f"good-{n}", f"ciao da {n}") for n in range(20)]
    # No database stores a lone surrogate; PostgreSQL text refuses NUL as well.
    surrogate = msg(inbox, "bad-1", "bad-1", "rotto \ud800 qui")
    nul = msg(inbox, "bad-2", "bad-2", "nul \x00 qui")
    items = [*good[:7], surrogate, *good[7:14], nul, *good[14:]]
    results, rows = await ingest_many(writes, items)
    assert len(results) == len(items)
    by_ext = dict(zip([i.external_id for i in items], results, strict=True))
    assert all(isinstance(by_ext[g.external_id], Ingested) for g in good)
    assert isinstance(by_ext["bad-1"], Exception)
    if database_url.startswith("postgresql"):
        assert isinstance(by_ext["bad-2"], Exception)
    stored = await count(db, Message, inbox_id=inbox)
    assert stored == 20 + (0 if database_url.startswith("postgresql") else 1)
    assert sum(r.event == "message.created" for r in rows) == stored


async def test_a_message_wakes_a_snoozed_conversation_and_its_changes_are_stored(
    db: async_sessionmaker[AsyncSession], writes: Writes
) -> None:
    """The ingest writes what it changes on a conversation it found in Core (not the
    ORM's flush): each column it changed is stored, the others are left alone."""
    inbox = await new_inbox(db)
    (first,), _ = await ingest_many(writes, [msg(inbox, "v", "1")])
    assert isinstance(first, Ingested)
    conv_id = first.conversation.id
    async with db() as session, session.begin():
        conv = await session.get_one(Conversation, conv_id)
        conv.status, conv.snoozed_until = "snoozed", first.message.created_at
        conv.waiting_since = conv.language = None
        conv.labels = ["vip"]  # not the ingest's: must survive its write
        before = conv.updated_at
    results, rows = await ingest_many(
        writes, [msg(inbox, "v", "2", text="Buongiorno, il mio ordine non è ancora arrivato")]
    )
    (second,) = results
    assert isinstance(second, Ingested) and second.created
    assert second.conversation.id == conv_id and second.conversation.status == "open"
    async with db() as session:
        stored = await session.get_one(Conversation, conv_id)
    assert stored.status == "open" and stored.snoozed_until is None
    assert stored.waiting_since is not None and stored.last_message_at is not None
    assert stored.last_message_at >= first.message.created_at
    assert stored.reply_to_external_id == "v" and stored.labels == ["vip"]
    assert stored.updated_at > before
    assert [r.event for r in rows] == ["conversation.updated", "message.created"]


async def test_a_batch_that_finds_its_connection_dropped_is_stored_on_a_new_one(
    database_url: str, db: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    """The gateway's intake pool does not ping at checkout (gateway/app.py): a connection
    the server has closed (a restart) is found by the batch itself, which runs again."""
    if not database_url.startswith("postgres"):
        pytest.skip("the server ends one connection: PostgreSQL")
    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    writes = InGreenlet(sessionmaker(engine))
    inbox = await new_inbox(db)
    try:
        await ingest_many(writes, [msg(inbox, "v1", "a")])
        async with engine.connect() as conn:  # the pool's one connection
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with db() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(100):  # until the server has ended it
                gone = (await session.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )).scalar_one() == 0  # fmt: skip
                if gone:
                    break
                await asyncio.sleep(0.02)
        with caplog.at_level(logging.INFO, logger="crocevia.ingest"):
            results, rows = await ingest_many(writes, [msg(inbox, "v1", "b")])
    finally:
        await engine.dispose()
    assert isinstance(results[0], Ingested) and results[0].created
    assert [r.getMessage() for r in caplog.records] == ["ingest_reconnecting"]
    assert [row.event for row in rows] == ["message.created"]
    assert await count(db, Message, inbox_id=inbox) == 2
