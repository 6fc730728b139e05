"""Mail as customers' clients write it, and the bounce a mail server sends back, for the
email tests."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import formatdate

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.4\n%fake but sniffable\n"


def mail(
    sender: str,
    subject: str,
    text: str,
    *,
    to: str = "support@shop.test",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = formatdate()
    m["Message-ID"] = f"<{message_id or uuid.uuid4().hex + '@customer.test'}>"
    if in_reply_to:
        m["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        m["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in (headers or {}).items():
        m[name] = value
    m.set_content(text)
    return m


def bounce_for(original_id: str, recipient: str) -> bytes:
    original = mail(
        "support@shop.test", "Re: hi", "our reply", to=recipient, message_id=original_id
    )
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.com>"
    report["To"] = "support@shop.test"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = f"<bounce-{uuid.uuid4().hex}@mx.example.com>"
    report.set_content(f"I'm sorry to have to inform you that <{recipient}> does not exist.")
    report.add_attachment(original)
    report.replace_header("Content-Type", report["Content-Type"].replace("mixed", "report"))
    return report.as_bytes()
