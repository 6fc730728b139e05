"""The email channel against real servers on 127.0.0.1.

IMAP is a real dovecot (tests/mailservers/dovecot.py), our outbound SMTP peer is a
real aiosmtpd Controller, our own inbound SMTP server is receivers.smtp_server
spoken to with aiosmtplib, and the three-message exchange goes through the session's
real gateway and worker processes.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aioimaplib
import aiosmtplib
import pytest
from agent_replies import wait_status
from conftest import Services, World
from crocevia_clients import Clients
from mailservers.accounts import IMAP_PASSWORD as PASSWORD
from mailservers.dovecot import DOVECOT, Dovecot
from mailservers.messages import PDF, bounce_for, mail
from mailservers.smtp_peer import SmtpPeer
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.email import EmailConnector, EmailSettings
from gateway.embedded_redis import free_port
from inbox.files import FileStore, stored_contents
from inbox.model import ChannelCursor, Contact, Conversation, Inbox, Message
from inbox.outbound import load_outbound
from inbox.relay import Relay
from inbox.types import Attachment, Channel, DeliveryError, OutboundMessage
from receivers.imap import ImapFetcher
from receivers.mail_intake import MailIntake
from receivers.smtp_server import serve

pytestmark = pytest.mark.timeout(90)

needs_dovecot = pytest.mark.skipif(
    DOVECOT is None,
    reason="dovecot is not installed (Debian: apt-get install dovecot-imapd); ./run test installs it",
)


# --- fixtures: servers and an email inbox ---------------------------------------------------


async def make_email_inbox(
    db: async_sessionmaker[AsyncSession], world: World, secrets_dir: Path, **settings: Any
) -> int:
    (secrets_dir / "imap-password").write_text(PASSWORD)
    async with db() as session, session.begin():
        inbox = Inbox(
            name=f"Shop mail {secrets.token_hex(3)}",
            channel="email",
            team_id=world.team_id,
            settings={
                "address": "support@shop.test",
                "imap_host": "127.0.0.1",
                "imap_security": "none",
                "imap_password_file": str(secrets_dir / "imap-password"),
                **settings,
            },
        )
        session.add(inbox)
        await session.flush()
        return inbox.id


@pytest.fixture
async def intake(
    db: async_sessionmaker[AsyncSession], data_dir: Path, redis_url: str
) -> AsyncIterator[MailIntake]:
    redis = Redis.from_url(redis_url)
    yield MailIntake(db, Relay(redis, db), FileStore(data_dir / "files"))
    await redis.aclose()


async def messages_of(db: async_sessionmaker[AsyncSession], inbox_id: int) -> list[Message]:
    async with db() as session:
        rows = await session.execute(
            select(Message).where(Message.inbox_id == inbox_id).order_by(Message.id)
        )
        return list(rows.scalars())


async def imap_append(server: Dovecot, *mails: EmailMessage) -> None:
    client = aioimaplib.IMAP4("127.0.0.1", server.port)
    await client.wait_hello_from_server()
    assert (await client.login("support@shop.test", PASSWORD)).result == "OK"
    for m in mails:
        assert (await client.append(m.as_bytes(), "INBOX")).result == "OK"
    await client.logout()


# --- IMAP --------------------------------------------------------------------------------------


@needs_dovecot
async def test_imap_fetch_survives_a_restart_without_missing_or_repeating(
    dovecot: Dovecot,
    db: async_sessionmaker[AsyncSession],
    world: World,
    intake: MailIntake,
    tmp_path: Path,
    data_dir: Path,
    database_url: str,
) -> None:
    inbox_id = await make_email_inbox(db, world, tmp_path, imap_port=dovecot.port)
    async with db() as session:
        settings = EmailSettings.of(await session.get_one(Inbox, inbox_id))
    first = mail("luca@example.it", "Reso", "Vorrei fare un reso.", message_id="a1@example.it")
    first.add_attachment(PDF, maintype="application", subtype="pdf", filename="scontrino.pdf")
    await imap_append(dovecot, first, mail("anna@example.it", "Info", "Orari?"))

    assert await ImapFetcher(inbox_id, settings, intake).fetch_once() == 2
    stored = await messages_of(db, inbox_id)
    assert [m.text for m in stored] == ["Vorrei fare un reso.", "Orari?"]
    names = [a["name"] for a in stored[0].attachments]
    assert names == ["scontrino.pdf", "original.eml"]
    original = stored[0].attachments[-1]
    assert original["data"]["role"] == "original" and original["data"]["automated"] is None
    file_id = original["url"].rsplit("/", 1)[1]
    from inbox.model import StoredFile

    async with db() as session:
        row = await session.get_one(StoredFile, file_id)
    saved = FileStore(data_dir / "files").path(row.sha256).read_bytes()
    assert b"Message-ID: <a1@example.it>" in saved and b"scontrino.pdf" in saved
    async with db() as session:
        cursor = await session.get_one(ChannelCursor, (inbox_id, "imap:INBOX"))
    assert cursor.state["last_uid"] == 2 and cursor.state["uidvalidity"] > 0

    # A restart: a new fetcher (new engine, new intake) reads only what came after.
    again = mail("luca@example.it", "Reso", "Vorrei fare un reso.", message_id="a1@example.it")
    later = mail("luca@example.it", "Re: Reso", "Ecco il numero: 42", in_reply_to="a1@example.it",
                 references=["a1@example.it"])  # fmt: skip
    await imap_append(dovecot, again, later)  # `again` is a duplicate Message-ID: nothing new
    from inbox.db import create_engine, sessionmaker

    engine = create_engine(database_url)
    restarted = MailIntake(sessionmaker(engine), None, FileStore(data_dir / "files"))
    try:
        assert await ImapFetcher(inbox_id, settings, restarted).fetch_once() == 1
        assert await ImapFetcher(inbox_id, settings, restarted).fetch_once() == 0
    finally:
        await engine.dispose()
    stored = await messages_of(db, inbox_id)
    assert [m.text for m in stored] == ["Vorrei fare un reso.", "Orari?", "Ecco il numero: 42"]
    assert stored[2].conversation_id == stored[0].conversation_id  # threaded by In-Reply-To
    assert stored[1].conversation_id != stored[0].conversation_id
    async with db() as session:
        cursor = await session.get_one(ChannelCursor, (inbox_id, "imap:INBOX"))
    assert cursor.state["last_uid"] == 4


@needs_dovecot
async def test_imap_idle_takes_new_mail_at_once(
    dovecot: Dovecot,
    db: async_sessionmaker[AsyncSession],
    world: World,
    intake: MailIntake,
    tmp_path: Path,
) -> None:
    # Polling every 10 minutes: only IDLE can bring the mail in within the test.
    inbox_id = await make_email_inbox(
        db, world, tmp_path, imap_port=dovecot.port, poll_interval=600
    )
    async with db() as session:
        settings = EmailSettings.of(await session.get_one(Inbox, inbox_id))
    fetcher = ImapFetcher(inbox_id, settings, intake)
    task = asyncio.create_task(fetcher.run())
    try:
        await asyncio.wait_for(fetcher.idling.wait(), 10)
        await imap_append(dovecot, mail("idle@example.com", "Ping", "Are you there?"))
        for _ in range(200):
            if await messages_of(db, inbox_id):
                break
            await asyncio.sleep(0.05)
        assert [m.text for m in await messages_of(db, inbox_id)] == ["Are you there?"]
        await asyncio.wait_for(fetcher.idling.wait(), 10)  # and back to IDLE
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --- inbound SMTP ----------------------------------------------------------------------------


@pytest.fixture
async def smtp_inbound(intake: MailIntake) -> AsyncIterator[int]:
    port = free_port()
    server = await serve(intake, "127.0.0.1", port, hostname="mx.shop.test")
    yield port
    server.close()
    await server.wait_closed()


async def test_inbound_smtp_accepts_our_addresses_and_refuses_others(
    db: async_sessionmaker[AsyncSession],
    world: World,
    smtp_inbound: int,
    tmp_path: Path,
) -> None:
    domain = f"{secrets.token_hex(4)}.shop.test"
    inbox_id = await make_email_inbox(
        db, world, tmp_path, address=f"help@{domain}", aliases=[f"aiuto@{domain}"]
    )
    first = mail("Marco <marco@example.it>", "Fattura", "Mi serve la fattura.", to=f"help@{domain}")
    errors, _ = await aiosmtplib.send(first, hostname="127.0.0.1", port=smtp_inbound)
    assert errors == {}
    # The same Message-ID again (a retry by the sending server): 250, nothing new.
    await aiosmtplib.send(first, hostname="127.0.0.1", port=smtp_inbound)
    plus = mail("marco@example.it", "Altro", "Un'altra cosa.", to=f"aiuto+x@{domain}")
    await aiosmtplib.send(plus, hostname="127.0.0.1", port=smtp_inbound)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(
            mail("marco@example.it", "x", "y", to=f"nobody@{domain}"),
            hostname="127.0.0.1",
            port=smtp_inbound,
        )
    assert refused.value.recipients[0].code == 550
    stored = await messages_of(db, inbox_id)
    assert [m.text for m in stored] == ["Mi serve la fattura.", "Un'altra cosa."]
    assert stored[0].conversation_id != stored[1].conversation_id  # a new subject: a new thread
    async with db() as session:
        contact = await session.get_one(Contact, stored[0].author_contact_id)
        conv = await session.get_one(Conversation, stored[0].conversation_id)
    assert contact.email == "marco@example.it" and contact.name == "Marco"
    assert conv.subject == "Fattura" and conv.threaded and conv.team_id == world.team_id


# --- the whole exchange through the real gateway and worker ---------------------------------


@pytest.fixture
async def email_world(
    services: Services,
    db: async_sessionmaker[AsyncSession],
    world: World,
    smtp_peer: SmtpPeer,
    tmp_path: Path,
) -> tuple[int, str]:
    (tmp_path / "smtp-password").write_text(smtp_peer.password + "\n")
    domain = f"{secrets.token_hex(4)}.shop.test"
    inbox_id = await make_email_inbox(
        db, world, tmp_path, address=f"support@{domain}", from_name="Shop Support",
        smtp_host="127.0.0.1", smtp_port=smtp_peer.port, smtp_security="starttls",
        smtp_ca_file=str(smtp_peer.cert),
        smtp_username=smtp_peer.username, smtp_password_file=str(tmp_path / "smtp-password"),
    )  # fmt: skip
    return inbox_id, domain


async def agent_reply(clients: Clients, world: World, conversation_id: int, text: str) -> int:
    _id, email, password = world.agents["anna"]
    agent = await clients.agent(email, password)
    r = await agent.http.post(
        f"/api/conversations/{conversation_id}/messages",
        json={"text": text, "client_id": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_three_message_exchange_threads_both_ways(
    email_world: tuple[int, str],
    db: async_sessionmaker[AsyncSession],
    world: World,
    clients: Clients,
    smtp_peer: SmtpPeer,
    smtp_inbound: int,
) -> None:
    inbox_id, domain = email_world
    ours = f"support@{domain}"
    # 1. The customer writes.
    first = mail("Sara Verdi <sara@example.it>", "Consegna", "Quando arriva?", to=ours,
                 message_id=f"s1.{domain}@example.it")  # fmt: skip
    await aiosmtplib.send(first, hostname="127.0.0.1", port=smtp_inbound)
    (msg1,) = await messages_of(db, inbox_id)
    # 2. An agent answers over the HTTP API; the worker sends it through our SMTP peer.
    reply_id = await agent_reply(clients, world, msg1.conversation_id, "Domani mattina.")
    sent = await wait_status(db, reply_id, "sent", "failed")
    assert sent.status == "sent", sent.error
    (got,) = await smtp_peer.wait(1)
    assert smtp_peer.logins == [smtp_peer.username]  # the password came from the file
    out = got.message
    assert got.rcpt_tos == ["sara@example.it"] and out["To"] == "sara@example.it"
    assert out["From"] == f"Shop Support <{ours}>"
    assert out["Subject"] == "Re: Consegna"
    assert out["In-Reply-To"] == f"<s1.{domain}@example.it>"
    assert out["References"] == f"<s1.{domain}@example.it>"
    assert out["Message-ID"] == f"<{sent.external_id}>" and sent.external_id.endswith(f"@{domain}")
    assert out.get_content().strip() == "Domani mattina."
    # 3. The customer answers our reply: the same conversation.
    answer = mail("sara@example.it", "Re: Consegna", "Perfetto, grazie!\n\n> Domani mattina.",
                  to=ours, in_reply_to=sent.external_id,
                  references=[f"s1.{domain}@example.it", sent.external_id])  # fmt: skip
    await aiosmtplib.send(answer, hostname="127.0.0.1", port=smtp_inbound)
    stored = await messages_of(db, inbox_id)
    assert [(m.direction, m.text) for m in stored] == [
        ("in", "Quando arriva?"), ("out", "Domani mattina."), ("in", "Perfetto, grazie!"),
    ]  # fmt: skip
    assert {m.conversation_id for m in stored} == {msg1.conversation_id}
    # A second reply references the whole thread, answering the latest mail.
    second_id = await agent_reply(clients, world, msg1.conversation_id, "Prego!")
    assert (await wait_status(db, second_id, "sent", "failed")).status == "sent"
    second = (await smtp_peer.wait(2))[1].message
    assert second["In-Reply-To"] == f"<{answer['Message-ID'].strip('<>')}>"
    assert second["References"].split() == [
        f"<s1.{domain}@example.it>", f"<{sent.external_id}>", answer["Message-ID"],
    ]  # fmt: skip
    # A new subject from the same person opens a new conversation.
    await aiosmtplib.send(
        mail("sara@example.it", "Altro ordine", "Un'altra domanda.", to=ours),
        hostname="127.0.0.1",
        port=smtp_inbound,
    )
    newest = (await messages_of(db, inbox_id))[-1]
    assert newest.conversation_id != msg1.conversation_id


async def test_refused_recipient_marks_the_reply_failed(
    email_world: tuple[int, str],
    db: async_sessionmaker[AsyncSession],
    world: World,
    clients: Clients,
    smtp_peer: SmtpPeer,
    smtp_inbound: int,
) -> None:
    inbox_id, domain = email_world
    await aiosmtplib.send(
        mail("refuse.me@example.it", "Help", "Ciao", to=f"support@{domain}"),
        hostname="127.0.0.1",
        port=smtp_inbound,
    )
    (msg,) = await messages_of(db, inbox_id)
    reply_id = await agent_reply(clients, world, msg.conversation_id, "Eccoci.")
    failed = await wait_status(db, reply_id, "sent", "failed")
    assert failed.status == "failed" and "550" in (failed.error or "")
    assert smtp_peer.received == []


async def test_auto_replies_and_bounces_are_stored_flagged_and_never_answered(
    email_world: tuple[int, str],
    db: async_sessionmaker[AsyncSession],
    world: World,
    clients: Clients,
    smtp_peer: SmtpPeer,
    smtp_inbound: int,
) -> None:
    inbox_id, domain = email_world
    ours = f"support@{domain}"
    await aiosmtplib.send(mail("pia@example.it", "Domanda", "Ciao", to=ours),
                          hostname="127.0.0.1", port=smtp_inbound)  # fmt: skip
    (question,) = await messages_of(db, inbox_id)
    reply_id = await agent_reply(clients, world, question.conversation_id, "Risposta.")
    reply = await wait_status(db, reply_id, "sent", "failed")
    assert reply.status == "sent"
    # Her out-of-office answers our reply; then her server bounces (say) a later mail.
    vacation = mail("pia@example.it", "Fuori ufficio", "Sono in ferie fino al 10.", to=ours,
                    in_reply_to=reply.external_id, headers={"Auto-Submitted": "auto-replied",
                                                            "X-Autoreply": "yes"})  # fmt: skip
    await aiosmtplib.send(vacation, hostname="127.0.0.1", port=smtp_inbound)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_inbound) as smtp:  # MAIL FROM:<>
        await smtp.sendmail("", [ours], bounce_for(str(reply.external_id), "pia@example.it"))
    stored = await messages_of(db, inbox_id)
    assert len(stored) == 4
    flags = [m.attachments[-1]["data"]["automated"] for m in stored if m.direction == "in"]
    assert flags == [None, "auto-submitted: auto-replied", "bounce"]
    # Both land in the conversation of our reply (In-Reply-To; the bounced original's id).
    assert {m.conversation_id for m in stored} == {question.conversation_id}
    # Nothing answered them: no new outbound message, no mail beyond our one reply.
    await asyncio.sleep(1.0)
    assert [m.direction for m in await messages_of(db, inbox_id)] == ["in", "out", "in", "in"]
    assert len(smtp_peer.received) == 1


# --- the connector on its own: attachments, implicit settings, retryable failures ----------


async def test_connector_sends_stored_attachments_and_retries_what_may_pass_later(
    db: async_sessionmaker[AsyncSession],
    data_dir: Path,
    smtp_peer: SmtpPeer,
    tmp_path: Path,
) -> None:
    files = FileStore(data_dir / "files")
    async with db() as session, session.begin():
        stored = await files.save(session, PDF, "fattura.pdf", inbox_id=None)
    (tmp_path / "pw").write_text(smtp_peer.password)
    settings = {
        "address": "support@shop.test", "smtp_host": "127.0.0.1", "smtp_port": smtp_peer.port,
        "smtp_security": "starttls", "smtp_ca_file": str(smtp_peer.cert),
        "smtp_username": smtp_peer.username, "smtp_password_file": str(tmp_path / "pw"),
    }  # fmt: skip
    inbox = Inbox(id=1, name="Shop", channel="email", settings=settings)
    connector = EmailConnector.for_inbox(inbox)
    async with db() as session:  # what the worker does: the inbox reads the bytes
        attachments = await stored_contents(
            session, files, (Attachment(kind="file", url=f"/api/files/{stored.id}", name="x"),)
        )
    out = OutboundMessage(
        5, 1, 1, Channel.EMAIL, "cliente@example.it", "In allegato la fattura.",
        attachments=attachments, thread_ids=("q1@example.it",), subject="Fattura",
    )  # fmt: skip
    receipt = await connector.send(out)
    (got,) = await smtp_peer.wait(1)
    assert got.message["Message-ID"] == f"<{receipt.external_id}>"
    assert got.message["In-Reply-To"] == "<q1@example.it>"
    parts = list(got.message.iter_attachments())
    assert [(p.get_filename(), p.get_content_type(), p.get_content()) for p in parts] == [
        ("fattura.pdf", "application/pdf", PDF)
    ]
    # A 4xx is temporary: tried again later; a 5xx is final.
    with pytest.raises(DeliveryError) as busy:
        await connector.send(OutboundMessage(8, 1, 1, Channel.EMAIL, "busy@example.it", "x"))
    assert busy.value.retryable and "451" in busy.value.reason
    with pytest.raises(DeliveryError) as gone:
        await connector.send(OutboundMessage(9, 1, 1, Channel.EMAIL, "refuse@example.it", "x"))
    assert not gone.value.retryable and "550" in gone.value.reason
    # Nobody listening: a network failure, tried again later.
    down = Inbox(id=1, name="Shop", channel="email",
                 settings={**settings, "smtp_port": free_port()})  # fmt: skip
    with pytest.raises(DeliveryError) as unreachable:
        await EmailConnector.for_inbox(down).send(
            OutboundMessage(6, 1, 1, Channel.EMAIL, "c@example.it", "x")
        )
    assert unreachable.value.retryable
    # A password stored in the settings is refused, visibly and for good.
    unsafe = Inbox(id=1, name="Shop", channel="email", settings={**settings, "smtp_password": "x"})
    with pytest.raises(DeliveryError) as refused:
        await EmailConnector.for_inbox(unsafe).send(
            OutboundMessage(7, 1, 1, Channel.EMAIL, "c@example.it", "x")
        )
    assert not refused.value.retryable and "smtp_password_env" in refused.value.reason


async def test_automatic_messages_are_marked_and_never_answer_a_robot(
    db: async_sessionmaker[AsyncSession],
    world: World,
    intake: MailIntake,
    smtp_peer: SmtpPeer,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    (tmp_path / "smtp-password").write_text(smtp_peer.password)
    inbox_id = await make_email_inbox(
        db, world, tmp_path, address="support@robots.shop.test", smtp_host="127.0.0.1",
        smtp_port=smtp_peer.port, smtp_security="starttls", smtp_ca_file=str(smtp_peer.cert),
        smtp_username=smtp_peer.username, smtp_password_file=str(tmp_path / "smtp-password"),
    )  # fmt: skip
    first = await intake.take(
        inbox_id, mail("eva@example.it", "Orari", "Aprite sabato?").as_bytes()
    )
    assert first is not None
    async with db() as session:
        inbox = await session.get_one(Inbox, inbox_id)
    connector = EmailConnector.for_inbox(inbox)

    async def automatic(text: str) -> OutboundMessage:
        """An outbound message without an agent author, as an out-of-hours auto-reply is,
        loaded as the worker loads it."""
        async with db() as session, session.begin():
            row = Message(conversation_id=first.conversation.id, inbox_id=inbox_id,
                          direction="out", text=text, status="pending", attachments=[])  # fmt: skip
            session.add(row)
        loaded = await load_outbound(db, FileStore(data_dir / "files"), row.id)
        assert loaded is not None
        return loaded[1]

    await connector.send(await automatic("Siamo chiusi, rispondiamo lunedì."))
    (got,) = await smtp_peer.wait(1)
    assert got.message["Auto-Submitted"] == "auto-replied"
    # Her vacation responder answers our auto-reply: we must not answer it automatically.
    vacation = mail("eva@example.it", "Re: Orari", "Sono in ferie.", in_reply_to=first.message.external_id,
                    headers={"Auto-Submitted": "auto-replied"})  # fmt: skip
    assert await intake.take(inbox_id, vacation.as_bytes()) is not None
    with pytest.raises(DeliveryError) as refused:
        await connector.send(await automatic("Siamo chiusi, rispondiamo lunedì."))
    assert not refused.value.retryable and "robot" in refused.value.reason
    assert len(smtp_peer.received) == 1


# --- a website chat that continues by email ------------------------------------------------


async def test_a_visitor_who_left_gets_the_reply_by_email_and_answers_into_the_chat(
    email_world: tuple[int, str],
    db: async_sessionmaker[AsyncSession],
    world: World,
    clients: Clients,
    smtp_peer: SmtpPeer,
    smtp_inbound: int,
) -> None:
    email_inbox, domain = email_world
    async with db() as session, session.begin():
        website = await session.get_one(Inbox, world.inbox_id)
        website.settings = {**website.settings, "email_fallback_inbox_id": email_inbox}
    visitor = await clients.visitor(world.website_token, name="Luca", email="luca@example.it")
    await visitor.connect()
    conv_id = (await visitor.say("Avete la giacca in taglia 44?"))["message"]["conversation_id"]
    await visitor.close()  # the visitor leaves the shop

    reply_id = await agent_reply(clients, world, conv_id, "Sì, la 44 arriva venerdì.")
    assert (await wait_status(db, reply_id, "sent", "failed")).status == "sent"
    (got,) = await smtp_peer.wait(1)
    out = got.message
    assert got.rcpt_tos == ["luca@example.it"]
    reply_to = out["Reply-To"]
    assert reply_to.startswith(f"support+c{conv_id}.") and reply_to.endswith(f"@{domain}")
    assert "Sì, la 44 arriva venerdì." in out.get_content()

    # Luca answers from his mail client: the answer lands in the chat, not in a new thread.
    answer = mail("luca@example.it", f"Re: {out['Subject']}", "Perfetto, la prendo!\n\n> Sì, la 44",
                  to=reply_to, in_reply_to=out["Message-ID"].strip("<>"))  # fmt: skip
    await aiosmtplib.send(answer, hostname="127.0.0.1", port=smtp_inbound)
    chat = await messages_of(db, world.inbox_id)
    assert [(m.direction, m.text) for m in chat if m.conversation_id == conv_id][-1] == (
        "in", "Perfetto, la prendo!",
    )  # fmt: skip
    assert await messages_of(db, email_inbox) == []
    # The visitor sees it in the widget on their next visit.
    history = (await visitor.http.get("/api/widget/messages")).json()["messages"]
    assert history[-1]["text"] == "Perfetto, la prendo!"

    # A forged conversation token is an ordinary new email, never a way into someone's chat.
    forged = reply_to.replace(reply_to.split(".")[1].split("@")[0], "0" * 12)
    await aiosmtplib.send(
        mail("mallory@example.com", "Re: chat", "fammi entrare", to=forged),
        hostname="127.0.0.1", port=smtp_inbound,
    )  # fmt: skip
    assert [m.text for m in await messages_of(db, email_inbox)] == ["fammi entrare"]
    assert len(await messages_of(db, world.inbox_id)) == len(chat)


# --- the customer's words and the folded quote -------------------------------------------------


async def test_a_bottom_posted_reply_is_stored_with_the_quote_folded_beside_it(
    db: async_sessionmaker[AsyncSession], world: World, intake: MailIntake, tmp_path: Path
) -> None:
    """Thunderbird writes the answer below the quote: the agent reads the answer, not the
    quote and not only a greeting; the quote is kept for the console to fold."""
    inbox_id = await make_email_inbox(db, world, tmp_path)
    body = (
        "Ciao,\n\nIl 03/03/25 10:12, Shop ha scritto:\n> Qual è il numero d'ordine?\n\n"
        "È il 4812, comprato a gennaio.\n\n-- \nFrancesca\n"
    )
    assert await intake.take(inbox_id, mail("fra@example.it", "Re: Ordine", body).as_bytes())
    (stored,) = await messages_of(db, inbox_id)
    assert stored.text == "Ciao,\n\nÈ il 4812, comprato a gennaio."
    original = stored.attachments[-1]["data"]
    assert original["role"] == "original"
    assert "> Qual è il numero d'ordine?" in original["quoted"]


async def test_an_outlook_reply_in_french_keeps_only_the_new_words(
    db: async_sessionmaker[AsyncSession], world: World, intake: MailIntake, tmp_path: Path
) -> None:
    inbox_id = await make_email_inbox(db, world, tmp_path)
    body = (
        "Merci, c'est noté.\n\nDe : Shop <support@shop.test>\nEnvoyé : lundi 3 mars 2025 10:12\n"
        "À : Claire <claire@example.fr>\nObjet : Livraison\n\nLivraison demain.\n"
    )
    assert await intake.take(inbox_id, mail("claire@example.fr", "RE: Livraison", body).as_bytes())
    (stored,) = await messages_of(db, inbox_id)
    assert stored.text == "Merci, c'est noté."
    assert stored.attachments[-1]["data"]["quoted"].startswith("De : Shop")


async def test_a_mail_with_nothing_quoted_has_nothing_to_fold(
    db: async_sessionmaker[AsyncSession], world: World, intake: MailIntake, tmp_path: Path
) -> None:
    inbox_id = await make_email_inbox(db, world, tmp_path)
    assert await intake.take(inbox_id, mail("leo@example.it", "Info", "Aprite sabato?").as_bytes())
    (stored,) = await messages_of(db, inbox_id)
    assert stored.text == "Aprite sabato?" and stored.attachments[-1]["data"]["quoted"] is None


def test_html_text_reads_as_plain_text_not_markdown() -> None:
    """The console shows text: no "\\-" escapes and no "[a@b](<mailto:a@b>)" links."""
    from connectors.email_parse import html_to_text

    text = html_to_text(
        '<p>- prima riga</p><p>1. seconda</p><p>Scrivete a <a href="mailto:vendite@shop.test">'
        'ufficio vendite</a> o a <a href="mailto:info@shop.test">info@shop.test</a></p>'
    )
    assert text.split("\n\n") == [
        "- prima riga",
        "1. seconda",
        "Scrivete a ufficio vendite <vendite@shop.test> o a info@shop.test",
    ]
