"""GDPR: export whole, erasure that leaves no personal data in any table, retention."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox import contacts, csat, privacy
from inbox.files import FileStore
from inbox.ingest import Ingested, ingest_many
from inbox.model import (
    AuditEntry,
    Base,
    Contact,
    Conversation,
    CsatResponse,
    Identity,
    Inbox,
    Message,
    StoredFile,
    utcnow,
)
from inbox.types import Attachment, Channel, InboundMessage, Sender
from inbox.writes import InGreenlet

Sessions = async_sessionmaker[AsyncSession]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def new_inbox(db: Sessions, channel: str, **settings: Any) -> int:
    async with db() as session, session.begin():
        inbox = Inbox(name=f"{channel}-{secrets.token_hex(3)}", channel=channel, settings=settings)
        session.add(inbox)
        await session.flush()
        return inbox.id


async def say(db: Sessions, channel: Channel, inbox_id: int, sender: Sender, text: str,
              **kw: Any) -> Ingested:  # fmt: skip
    item = InboundMessage(channel=channel, inbox_id=inbox_id, external_id=secrets.token_hex(8),
                          sender=sender, text=text, **kw)  # fmt: skip
    (result,), _ = await ingest_many(InGreenlet(db), [item])
    assert isinstance(result, Ingested)
    return result


@dataclass
class Person:
    contact_id: int
    secrets: list[str]  # every string that identifies them or that they wrote
    file_id: str
    sha: str
    conversation_ids: list[int]


async def a_customer_on_three_channels(db: Sessions, store: FileStore) -> Person:
    tag = secrets.token_hex(4)
    name, email, phone = f"Giulia Rossi {tag}", f"giulia.{tag}@example.it", "+39333" + tag[:4].translate(
        str.maketrans("abcdef", "123456")) + "123"  # fmt: skip
    handle = f"giulia_{tag}"
    texts = [f"Il mio ordine {tag} non è arrivato", f"Abito in via Roma {tag}", f"Subject {tag}",
             f"Commento {tag}"]  # fmt: skip
    web, tg, mail = [await new_inbox(db, c) for c in ("website", "telegram", "email")]
    async with db() as session, session.begin():
        data = PNG + tag.encode()
        stored = await store.save(session, data, f"passaporto-{tag}.png", inbox_id=web)
        file_id, sha = stored.id, stored.sha256
    a = await say(db, Channel.WEBSITE, web, Sender(f"v-{tag}", name=name, email=email), texts[0],
                  attachments=(Attachment("image", url=f"/api/files/{file_id}", name=f"passaporto-{tag}.png"),))  # fmt: skip
    b = await say(
        db,
        Channel.TELEGRAM,
        tg,
        Sender(f"tg-{tag}", name=name, handle=handle, phone=phone),
        texts[1],
    )
    c = await say(db, Channel.EMAIL, mail, Sender(email, name=name, email=email), "Buongiorno",
                  subject=texts[2])  # fmt: skip
    async with db() as session, session.begin():
        # An agent's reply that quotes them, a rated conversation, and two merges.
        conv = await session.get_one(Conversation, a.conversation.id)
        session.add(Message(conversation_id=conv.id, inbox_id=web, direction="out", text=f"Ciao {name}!",
                            status="sent", attachments=[]))  # fmt: skip
        conv.status, conv.csat_requested_at = "resolved", utcnow()
        await csat.record(session, conv, 2, texts[3], utcnow())
        await contacts.merge(session, a.contact.id, b.contact.id, actor_agent_id=None)
        await contacts.merge(session, a.contact.id, c.contact.id, actor_agent_id=None)
    return Person(a.contact.id, [name, email, phone, handle, f"passaporto-{tag}", *texts], file_id, sha,
                  [a.conversation.id, b.conversation.id, c.conversation.id])  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "files")


async def test_export_contains_everything(db: Sessions, store: FileStore) -> None:
    person = await a_customer_on_three_channels(db, store)
    async with db() as session:
        data = await privacy.export(session, person.contact_id)
    assert data["contact"]["id"] == person.contact_id
    assert len(data["merged_contacts"]) == 2
    assert {i["channel"] for i in data["identities"]} == {"website", "telegram", "email"}
    assert sorted(c["id"] for c in data["conversations"]) == sorted(person.conversation_ids)
    dumped = repr(data)
    for secret in person.secrets:
        assert secret in dumped, secret
    rated = next(c for c in data["conversations"] if c["csat"])
    assert rated["csat"]["rating"] == 2 and any(m["direction"] == "out" for m in rated["messages"])
    # The router's lifecycle rules (every minute) may have made them leads meanwhile.
    assert len(data["merges"]) == 2
    assert all(h["source"] == "rule" for h in data["lifecycle_history"]), data["lifecycle_history"]
    async with db() as session:
        with pytest.raises(LookupError):
            await privacy.export(session, 10**12)


async def test_erasure_leaves_no_personal_data_in_any_table_and_keeps_aggregates(
    db: Sessions, store: FileStore
) -> None:
    person = await a_customer_on_three_channels(db, store)
    assert store.path(person.sha).exists()
    async with db() as session:
        before = (await session.execute(
            select(Message.id, Message.sentiment_score, Message.direction)
            .where(Message.conversation_id.in_(person.conversation_ids)).order_by(Message.id)
        )).all()  # fmt: skip
    async with db() as session, session.begin():
        summary = await privacy.erase(session, person.contact_id, actor_agent_id=None, store=store)
    assert summary["contacts"] == 3 and summary["identities"] == 3 and summary["files"] == 1
    assert not store.path(person.sha).exists()

    async with db() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            if not columns:
                continue
            for row in (await session.execute(select(*columns))).all():
                text = repr(tuple(row))
                for secret in person.secrets:
                    assert secret not in text, f"{secret!r} left in {table.name}: {text[:300]}"
        # Aggregates remain: the same messages with their direction and sentiment, the
        # conversations, the rating, the contact row marked erased.
        after = (await session.execute(
            select(Message.id, Message.sentiment_score, Message.direction)
            .where(Message.conversation_id.in_(person.conversation_ids)).order_by(Message.id)
        )).all()  # fmt: skip
        assert after == before
        convs = (
            await session.scalars(
                select(Conversation).where(Conversation.id.in_(person.conversation_ids))
            )
        ).all()
        assert len(convs) == 3 and all(c.status == "resolved" for c in convs)
        assert (await session.scalar(select(CsatResponse.rating).where(
            CsatResponse.conversation_id.in_(person.conversation_ids)))) == 2  # fmt: skip
        contact = await session.get_one(Contact, person.contact_id)
        assert contact.erased_at is not None and contact.name is None and contact.attributes == {}
        assert (
            await session.scalar(
                select(Identity.id).where(Identity.contact_id == person.contact_id)
            )
            is None
        )
        assert await session.get(StoredFile, person.file_id) is None
        texts = set(
            await session.scalars(
                select(Message.text).where(Message.author_contact_id == person.contact_id)
            )
        )
        assert texts == {privacy.ERASED}
        entry = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "contact.erased", AuditEntry.target_id == str(person.contact_id))
        )).one()  # fmt: skip
        assert len(entry.details["merged_contact_ids"]) == 2
    async with db() as session, session.begin():
        with pytest.raises(privacy.ErasureRefused, match="erased already"):
            await privacy.erase(session, person.contact_id, actor_agent_id=None)


async def test_a_file_another_message_links_is_kept(db: Sessions, store: FileStore) -> None:
    web = await new_inbox(db, "website")
    async with db() as session, session.begin():
        stored = await store.save(session, PNG + secrets.token_bytes(8), "shared.png", inbox_id=web)
    link = (Attachment("image", url=f"/api/files/{stored.id}"),)
    a = await say(db, Channel.WEBSITE, web, Sender(secrets.token_hex(5)), "mio", attachments=link)
    await say(db, Channel.WEBSITE, web, Sender(secrets.token_hex(5)), "anche mio", attachments=link)
    async with db() as session, session.begin():
        summary = await privacy.erase(session, a.contact.id, actor_agent_id=None, store=store)
    assert summary["files"] == 0 and store.path(stored.sha256).exists()
    async with db() as session:
        assert await session.get(StoredFile, stored.id) is not None


async def test_a_merged_contact_is_erased_through_the_one_it_was_merged_into(db: Sessions) -> None:
    web = await new_inbox(db, "website")
    a = await say(db, Channel.WEBSITE, web, Sender(secrets.token_hex(5)), "uno")
    b = await say(db, Channel.WEBSITE, web, Sender(secrets.token_hex(5)), "due")
    async with db() as session, session.begin():
        await contacts.merge(session, a.contact.id, b.contact.id, actor_agent_id=None)
    async with db() as session, session.begin():
        with pytest.raises(privacy.ErasureRefused, match=f"merged into contact {a.contact.id}"):
            await privacy.erase(session, b.contact.id, actor_agent_id=None)


async def test_retention_anonymises_old_messages_on_schedule(
    db: Sessions, store: FileStore
) -> None:
    keep_30 = await new_inbox(db, "website", retention_days=30)
    forever = await new_inbox(db, "website")
    async with db() as session, session.begin():
        stored = await store.save(
            session, PNG + secrets.token_bytes(8), "old.png", inbox_id=keep_30
        )
    old = await say(db, Channel.WEBSITE, keep_30, Sender(secrets.token_hex(5)), "vecchio",
                    attachments=(Attachment("image", url=f"/api/files/{stored.id}"),))  # fmt: skip
    new = await say(db, Channel.WEBSITE, keep_30, Sender(secrets.token_hex(5)), "nuovo")
    other = await say(db, Channel.WEBSITE, forever, Sender(secrets.token_hex(5)), "per sempre")
    now = utcnow()
    async with db() as session, session.begin():
        await session.execute(update(Message).where(Message.id == old.message.id)
                              .values(created_at=now - timedelta(days=31)))  # fmt: skip
        await session.execute(update(Message).where(Message.id == other.message.id)
                              .values(created_at=now - timedelta(days=5000)))  # fmt: skip
    async with db() as session, session.begin():
        assert await privacy.apply_retention(session, now, [], store=store) >= 1
    async with db() as session, session.begin():
        assert await privacy.apply_retention(session, now, [], store=store) == 0  # done already
        got = {m.id: (m.text, m.attachments) for m in await session.scalars(
            select(Message).where(Message.id.in_([old.message.id, new.message.id, other.message.id])))}  # fmt: skip
        assert got[old.message.id] == (privacy.EXPIRED, [])
        assert got[new.message.id] == ("nuovo", [])
        assert got[other.message.id] == ("per sempre", [])
        assert await session.get(StoredFile, stored.id) is None
    assert not store.path(stored.sha256).exists()
    # CROCEVIA_RETENTION_DAYS (here given directly) covers inboxes without their own setting.
    async with db() as session, session.begin():
        assert await privacy.apply_retention(session, now, [], default_days=4000) >= 1
        assert (await session.get_one(Message, other.message.id)).text == privacy.EXPIRED


def test_retention_days_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(privacy.RETENTION_ENV, "90")
    assert privacy.default_retention_days() == 90
    for bad in ("", "0", "-3", "tre"):
        monkeypatch.setenv(privacy.RETENTION_ENV, bad)
        assert privacy.default_retention_days() is None
