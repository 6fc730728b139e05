"""Parsing mail (connectors/email_parse.py): text, HTML, charsets, attachments, quotes and
signatures, machine-written mail and bounces; the connector's refusals that need no
server."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from mailservers.messages import PDF, PNG, bounce_for, mail

from connectors.email import EmailConnector, EmailSettings, read_secret
from connectors.email_parse import automated_reason, parse_email, strip_quoted
from inbox.model import Inbox
from inbox.types import Channel, DeliveryError, OutboundMessage


def test_plain_text_with_quote_and_signature_keeps_the_original() -> None:
    m = mail(
        "Giulia Bianchi <Giulia@Example.IT>",
        "Ordine 1234",
        "Il pacco è arrivato, grazie!\n\n-- \nGiulia Bianchi\nVia Roma 1\n\n"
        "Il giorno lun 2 nov 2026 alle ore 10:00 Shop <support@shop.test> ha scritto:\n"
        "> Il suo ordine è partito.\n",
        message_id="m1@example.it",
        in_reply_to="r1@shop.test",
        references=["first@example.it", "r1@shop.test"],
    )
    parsed = parse_email(m.as_bytes())
    assert parsed.text == "Il pacco è arrivato, grazie!"
    assert "Via Roma 1" in parsed.full_text and "> Il suo ordine" in parsed.full_text
    assert parsed.message_id == "m1@example.it"
    assert parsed.thread_ids == ("first@example.it", "r1@shop.test")
    assert parsed.sender.external_id == "giulia@example.it"
    assert parsed.sender.name == "Giulia Bianchi"
    assert parsed.subject == "Ordine 1234" and parsed.automated is None
    inbound = parsed.inbound(7)
    assert inbound.channel is Channel.EMAIL and inbound.external_id == "m1@example.it"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "Yes please.\n\nOn Mon, 2 Nov 2026 at 10:00, Shop <support@shop.test> wrote:\n> Shall we?",
            "Yes please.",
        ),
        (
            "Yes please.\n\nOn Mon, 2 Nov 2026 at 10:00, Shop Support Team\n<support@shop.test> wrote:\n> Q",
            "Yes please.",
        ),
        (
            "Va bene.\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\nTo: me\n\nold",
            "Va bene.",
        ),
        (
            "Va bene.\n\n________________________________\nDa: Shop <s@shop.test>\nInviato: lunedì\nA: me\n",
            "Va bene.",
        ),
        ("Va bene.\nDa: Shop <s@shop.test>\nInviato: lunedì\nA: me\nOggetto: x\n\nold", "Va bene."),
        ("> only a quote\n> more", "> only a quote\n> more"),  # nothing new: keep it all
        (
            "Il pacco non è arrivato.\nIl corriere dice di sì.",
            "Il pacco non è arrivato.\nIl corriere dice di sì.",
        ),
    ],
)
def test_quoted_history_is_cut(body: str, expected: str) -> None:
    assert strip_quoted(body) == expected


def test_html_only_becomes_readable_text() -> None:
    m = EmailMessage()
    m["From"] = "shopper@example.com"
    m["Subject"] = "Hi"
    m.set_content(
        "<html><body><p>Hello <b>team</b>,</p><ul><li>one</li><li>two</li></ul>"
        "<p>see <a href='https://example.com/x'>this</a></p><blockquote>old</blockquote></body></html>",
        subtype="html",
    )
    parsed = parse_email(m.as_bytes())
    assert "<" not in parsed.text.replace("<https", "")
    assert "Hello team," in parsed.text and "* one" in parsed.text
    assert "https://example.com/x" in parsed.text


@pytest.mark.parametrize("charset", ["iso-8859-1", "windows-1252"])
def test_single_byte_charsets(charset: str) -> None:
    body = "Perché il prezzo è 10 €? “Grazie”".encode("windows-1252")
    raw = (
        b"From: =?" + charset.encode() + b"?q?Jos=E9?= <jose@example.es>\r\n"
        b"Subject: =?" + charset.encode() + b"?q?Perch=E9?=\r\n"
        b"Message-ID: <cs-" + charset.encode() + b"@example.es>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=" + charset.encode() + b"\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.text == "Perché il prezzo è 10 €? “Grazie”"
    assert parsed.sender.name == "José" and parsed.subject == "Perché"


def test_unknown_charset_and_no_message_id_still_parse() -> None:
    raw = (
        b"From: someone@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=x-martian\r\n"
        b"\r\ncaf\xc3\xa9\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.text == "café"
    assert parsed.message_id.startswith("sha256-")
    assert parse_email(raw).message_id == parsed.message_id  # the same bytes: the same id


def test_attachments_are_kept() -> None:
    m = mail("a@example.com", "Photos", "See attached.")
    m.add_alternative("<p>See <i>attached</i>.</p>", subtype="html")
    m.add_attachment(PNG, maintype="image", subtype="png", filename="foto.png")
    m.add_attachment(PDF, maintype="application", subtype="pdf", filename="fattura.pdf")
    parsed = parse_email(m.as_bytes())
    assert parsed.text == "See attached."
    assert [(p.name, p.content_type, p.data) for p in parsed.parts] == [
        ("foto.png", "image/png", PNG),
        ("fattura.pdf", "application/pdf", PDF),
    ]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto-submitted: auto-replied"),
        ({"Auto-Submitted": "no"}, None),
        ({"Precedence": "bulk"}, "precedence: bulk"),
        ({"Precedence": "junk"}, "precedence: junk"),
        ({"X-Autoreply": "yes"}, "x-autoreply"),
        ({"X-Autorespond": "Out of office"}, "x-autorespond"),
        ({"Return-Path": "<>"}, "bounce"),
        ({"List-Id": "<news.shop.test>"}, "mailing list"),
    ],
)
def test_machine_written_mail_is_recognised(headers: dict[str, str], reason: str | None) -> None:
    parsed = parse_email(mail("x@example.com", "s", "t", headers=headers).as_bytes())
    assert parsed.automated == reason


def test_bounce_is_recognised_and_points_at_the_original() -> None:
    parsed = parse_email(bounce_for("crocevia.9.abc@shop.test", "gone@example.com"))
    assert parsed.automated == "bounce"
    assert "crocevia.9.abc@shop.test" in parsed.thread_ids
    assert parse_email(b"From: a@b.c\r\nSubject: x\r\n\r\nbody", envelope_from="").automated == (
        "bounce"
    )
    m = mail("MAILER-DAEMON@mx.example.com", "failure", "t")
    assert automated_reason(m) == "bounce"


async def test_never_writes_to_a_robot_nor_reads_passwords_from_settings(tmp_path: Path) -> None:
    settings = EmailSettings.of(
        Inbox(id=1, name="Shop", channel="email", settings={"address": "support@shop.test",
                                                            "smtp_host": "127.0.0.1"})
    )  # fmt: skip
    connector = EmailConnector(1, settings)
    out = OutboundMessage(1, 1, 1, Channel.EMAIL, "mailer-daemon@mx.example.com", "hi")
    with pytest.raises(DeliveryError) as refused:
        await connector.send(out)
    assert not refused.value.retryable
    with pytest.raises(ValueError, match="smtp_password_env or smtp_password_file"):
        read_secret({"smtp_password": "plain"}, "smtp_password")
    (tmp_path / "pw").write_text("from-a-file\n")
    assert read_secret({"smtp_password_file": str(tmp_path / "pw")}, "smtp_password") == (
        "from-a-file"
    )
