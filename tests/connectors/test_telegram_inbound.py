"""Telegram in: text and media, edits, repeats, /start links, secrets (tests/connectors/
telegram_bot.py has the inbox and the local Bot API)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fakes.telegram_api import FakeTelegram
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram_bot import JPEG, OGG, PDF, Bot, bot, connector, fake, files, messages_of, store

from connectors.base import VerificationError
from connectors.telegram import (
    SECRET_HEADER,
    TelegramConfig,
    TelegramConnector,
    open_bot,
    read_start_token,
    start_token,
)
from inbox.files import FileStore
from inbox.model import Contact, Identity, StoredFile

pytestmark = pytest.mark.timeout(90)


async def test_text_photo_document_voice_location_contact(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    fake = bot.fake
    fake.add_file("ph-big", JPEG, "photos/file_1.jpg")
    fake.add_file("doc-1", PDF, "documents/file_2.pdf")
    fake.add_file("voice-1", OGG, "voice/file_3.oga")
    conn = await connector(db, bot)
    small = {"file_id": "ph-small", "file_unique_id": "s", "width": 90, "height": 67}
    big = {"file_id": "ph-big", "file_unique_id": "b", "width": 1280, "height": 960}
    payloads = [
        bot.update("Buongiorno, vorrei un'informazione"),
        bot.update(None, caption="lo scontrino", photo=[small, big]),
        bot.update(
            None,
            document={
                "file_id": "doc-1",
                "file_unique_id": "d",
                "file_name": "fattura.pdf",
                "mime_type": "application/pdf",
            },
        ),  # fmt: skip
        bot.update(
            None,
            voice={
                "file_id": "voice-1",
                "file_unique_id": "v",
                "duration": 3,
                "mime_type": "audio/ogg",
            },
        ),  # fmt: skip
        bot.update(None, location={"latitude": 45.4642, "longitude": 9.19}),
        bot.update(
            None,
            contact={
                "phone_number": "+39021234567",
                "first_name": "Marco",
                "last_name": "Bianchi",
                "user_id": 77,
            },
        ),  # fmt: skip
    ]
    for payload in payloads:
        await store(db, conn, files, payload)

    rows = await messages_of(db, bot.inbox_id)
    assert len(rows) == 6 and len({r.conversation_id for r in rows}) == 1
    text, photo, doc, voice, location, contact = rows
    assert text.text == "Buongiorno, vorrei un'informazione"
    assert text.external_id == f"{bot.chat}:{payloads[0]['message']['message_id']}"
    assert photo.text == "lo scontrino"
    (a,) = photo.attachments
    assert a["kind"] == "image" and a["content_type"] == "image/jpeg" and a["size"] == len(JPEG)
    assert a["url"].startswith("/api/files/") and a["data"]["file_id"] == "ph-big"
    (d,) = doc.attachments
    assert (d["kind"], d["name"], d["content_type"]) == ("file", "fattura.pdf", "application/pdf")
    (v,) = voice.attachments
    assert (v["kind"], v["content_type"]) == ("audio", "audio/ogg")
    # The stored bytes are the ones Telegram served, found where /api/files/{id} looks.
    for att, data in ((a, JPEG), (d, PDF), (v, OGG)):
        async with db() as session:
            row = await session.get_one(StoredFile, att["url"].rsplit("/", 1)[1])
        assert files.path(row.sha256).read_bytes() == data and row.inbox_id == bot.inbox_id
    getfile = [c.params["file_id"] for c in fake.calls_of("getFile")]
    assert getfile == ["ph-big", "doc-1", "voice-1"]  # the largest photo size only
    (loc,) = location.attachments
    assert loc["kind"] == "location" and loc["data"] == {"latitude": 45.4642, "longitude": 9.19}
    (card,) = contact.attachments
    assert card["kind"] == "contact" and card["name"] == "Marco Bianchi"
    assert card["data"]["phone_number"] == "+39021234567" and card["data"]["user_id"] == 77

    async with db() as session:
        identity = (
            await session.execute(
                select(Identity).where(Identity.channel == "telegram",
                                       Identity.external_id == str(bot.chat))
            )
        ).scalar_one()  # fmt: skip
        contact_row = await session.get_one(Contact, identity.contact_id)
    assert (identity.handle, identity.display_name) == ("giulia_r", "Giulia Rossi")
    assert contact_row.name == "Giulia Rossi"


async def test_group_chats_and_other_updates_store_nothing(
    bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    conn = await connector(db, bot)
    group = bot.update("hello all")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Fans"}
    assert conn.parse(group) == []
    assert conn.parse({"update_id": 9, "my_chat_member": None}) == []


async def test_an_edited_message_updates_the_stored_text(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    conn = await connector(db, bot)
    original = bot.update("Il pacco è arrivato rotto", message_id=4001)
    (first,) = await store(db, conn, files, original)
    (again,) = await store(db, conn, files, bot.update("Il pacco è arrivato aperto", message_id=4001,
                                                   edited=True))  # fmt: skip
    assert first.created and not again.created
    assert again.message.id == first.message.id
    (row,) = await messages_of(db, bot.inbox_id)
    assert row.text == "Il pacco è arrivato aperto" and row.edited_at is not None
    assert row.external_id == f"{bot.chat}:4001"


async def test_a_repeated_update_stores_nothing_new(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    bot.fake.add_file("ph-1", JPEG, "photos/p.jpg")
    conn = await connector(db, bot)
    payload = bot.update(None, photo=[{"file_id": "ph-1", "file_unique_id": "p", "width": 9,
                                   "height": 9}])  # fmt: skip
    (first,) = await store(db, conn, files, payload)
    (second,) = await store(db, conn, files, payload)
    # The same message in another update (Telegram redelivering) is the same message too.
    (third,) = await store(db, conn, files, {**payload, "update_id": payload["update_id"] + 10**6})
    assert first.created and not second.created and not third.created
    assert len(await messages_of(db, bot.inbox_id)) == 1
    assert len(bot.fake.calls_of("getFile")) == 1  # a known message's files are not fetched again


async def test_start_payload_links_the_sender_to_a_known_contact(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    key = "app-secret-key"
    async with db() as session, session.begin():
        known = Contact(name="Giulia (from the shop)", email="giulia@example.it", attributes={})
        session.add(known)
        await session.flush()
        known_id = known.id
    conn = await connector(db, bot)
    token = start_token(key, bot.inbox_id, known_id)
    assert len(token) <= 64 and read_start_token(key, bot.inbox_id, token) == known_id
    # Forged, altered, other-inbox and other-key tokens link nothing.
    assert read_start_token(key, bot.inbox_id + 1, token) is None
    assert read_start_token("another key", bot.inbox_id, token) is None
    other = token.replace(f"{known_id}-", f"{known_id + 1}-", 1)
    assert read_start_token(key, bot.inbox_id, other) is None
    expired = start_token(key, bot.inbox_id, known_id, ttl=timedelta(seconds=-1))
    assert read_start_token(key, bot.inbox_id, expired) is None

    (forged,) = await store(db, conn, files, bot.update(f"/start {other}", chat=bot.chat + 1), key)
    assert forged.contact.id != known_id

    (linked,) = await store(db, conn, files, bot.update(f"/start {token}"), key)
    assert linked.contact.id == known_id and linked.message.text == "/start"
    (later,) = await store(db, conn, files, bot.update("Grazie!"), key)
    assert later.contact.id == known_id
    assert later.conversation.id == linked.conversation.id
    # A user already known under another contact is moved by a valid link.
    again = start_token(key, bot.inbox_id, known_id)
    (moved,) = await store(db, conn, files, bot.update(f"/start {again}", chat=bot.chat + 1), key)
    assert moved.contact.id == known_id


def test_verify_compares_the_secret_token() -> None:
    conn = TelegramConnector(1, TelegramConfig(token="t", webhook_secret="s3cr3t"))
    conn.verify({SECRET_HEADER: "s3cr3t"}, b"{}")
    for headers in ({SECRET_HEADER: "s3cr3"}, {SECRET_HEADER: ""}, {}):
        with pytest.raises(VerificationError):
            conn.verify(headers, b"{}")
    with pytest.raises(VerificationError):  # no secret configured: refuse everything
        TelegramConnector(1, TelegramConfig(token="t", webhook_secret=None)).verify(
            {SECRET_HEADER: ""}, b"{}"
        )


async def test_secrets_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, fake: FakeTelegram
) -> None:
    monkeypatch.setenv("TG_TOKEN_FOR_TEST", fake.token)
    config = TelegramConfig.from_settings({"bot_token_env": "TG_TOKEN_FOR_TEST",
                                           "api_base_url": fake.url})  # fmt: skip
    assert config.token == fake.token and config.webhook_secret is None
    async with open_bot(config) as tg, tg:  # `async with bot` makes getMe
        assert tg.username == "crocevia_test_bot"


# -- polling ---------------------------------------------------------------------------


async def test_stickers_video_notes_polls_dice_and_stories_say_what_they_are(
    bot: Bot, db: async_sessionmaker[AsyncSession], files: FileStore
) -> None:
    WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8 " + b"\x00" * 16
    MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16
    bot.fake.add_file("st-1", WEBP, "stickers/file_9.webp")
    bot.fake.add_file("vn-1", MP4, "video_notes/file_10.mp4")
    conn = await connector(db, bot)
    payloads = [
        bot.update(None, sticker={"file_id": "st-1", "file_unique_id": "st", "type": "regular",
                              "width": 512, "height": 512, "is_animated": False,
                              "is_video": False, "emoji": "😡"}),
        bot.update(None, video_note={"file_id": "vn-1", "file_unique_id": "vn", "length": 240,
                                 "duration": 7}),
        bot.update(None, poll={"id": "p1", "question": "Quale taglia?", "total_voter_count": 0,
                           "is_closed": False, "is_anonymous": True, "type": "regular",
                           "allows_multiple_answers": False, "allows_revoting": False, "members_only": False,
                           "options": [{"text": "M", "voter_count": 0, "persistent_id": "o1"},
                                       {"text": "L", "voter_count": 0, "persistent_id": "o2"}]}),
        bot.update(None, dice={"emoji": "🎲", "value": 4}),
        bot.update(None, story={"chat": {"id": -100, "type": "channel", "username": "bottega"},
                            "id": 12}),
    ]  # fmt: skip
    for payload in payloads:
        await store(db, conn, files, payload)
    rows = await messages_of(db, bot.inbox_id)
    assert [r.text for r in rows] == ["[sticker 😡]", "[video note, 7 s]",
                                      "📊 Quale taglia?\n• M\n• L", "🎲 4",
                                      "[story shared from @bottega]"]  # fmt: skip
    sticker, note = rows[0].attachments[0], rows[1].attachments[0]
    assert (sticker["kind"], sticker["content_type"]) == ("image", "image/webp")
    assert (note["kind"], note["content_type"]) == ("video", "video/mp4")
    assert sticker["url"].startswith("/api/files/") and note["url"].startswith("/api/files/")
