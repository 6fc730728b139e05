"""Try an email inbox's servers the way the connector will use them: log in to IMAP and
open the mailbox, log in to SMTP. Each answers {"ok": bool, "detail": "..."} with the
server's own words when it refused, for the settings page's "Verifica" button."""

from __future__ import annotations

import aioimaplib
import aiosmtplib

from connectors.email import EmailConfigError, EmailSettings
from receivers.imap import ImapError, close_imap, open_imap

TIMEOUT = 15.0


def _result(ok: bool, detail: str) -> dict[str, object]:
    return {"ok": ok, "detail": detail[:500]}


async def check_imap(settings: EmailSettings) -> dict[str, object]:
    if not settings.imap_host:
        return _result(False, "no imap_host: replies only, nothing is fetched")
    try:
        client = await open_imap(settings, TIMEOUT)
    except (EmailConfigError, ImapError) as exc:
        return _result(False, str(exc))
    except (aioimaplib.AioImapException, OSError, TimeoutError) as exc:
        return _result(False, f"cannot reach {settings.imap_host}:{settings.imap_port}: {exc}")
    try:
        response = await client.select(settings.imap_mailbox)
        if response.result != "OK":
            return _result(False, f"mailbox {settings.imap_mailbox}: {response.result}")
        return _result(True, f"logged in as {settings.imap_username}, {settings.imap_mailbox} open")
    except (aioimaplib.AioImapException, OSError, TimeoutError) as exc:
        return _result(False, f"IMAP: {exc}")
    finally:
        await close_imap(client)


async def check_smtp(settings: EmailSettings) -> dict[str, object]:
    if not settings.smtp_host:
        return _result(False, "no smtp_host: replies cannot be sent")
    try:
        password = settings.secret("smtp_password")
    except EmailConfigError as exc:
        return _result(False, str(exc))
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        use_tls=settings.smtp_security == "tls",
        start_tls=settings.smtp_security == "starttls",
        cert_bundle=settings.smtp_ca_file,
        timeout=TIMEOUT,
    )
    try:
        await client.connect()
        if password is not None and settings.smtp_username:
            await client.login(settings.smtp_username, password)
        await client.quit()
    except aiosmtplib.SMTPResponseException as exc:
        return _result(False, f"SMTP {exc.code} {exc.message}")
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return _result(False, f"cannot reach {settings.smtp_host}:{settings.smtp_port}: {exc}")
    finally:
        client.close()
    who = f"as {settings.smtp_username}" if password is not None else "without a login"
    return _result(True, f"connected {who}")
