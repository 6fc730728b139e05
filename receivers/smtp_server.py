"""Inbound SMTP: an aiosmtpd handler for sites that point their MX at us.

RCPT TO is accepted only for an address an email inbox owns (its `address` or one
of its `aliases`; a `+tag` after the local part is ignored), and refused with 550
otherwise, so we are never an open relay. DATA is stored (`MailIntake`) before we
answer 250: a mail we acknowledge is in the database. If storing fails we answer
451, and the sending server tries again later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from connectors.email import EmailConfigError, EmailSettings
from inbox.model import Inbox
from inbox.types import Channel
from receivers.mail_intake import MailIntake

log = logging.getLogger("crocevia.email.smtp")

ROUTES_TTL = 30.0
MAX_SIZE = 30 * 1024 * 1024


def base_address(address: str) -> str:
    """`support+c12.ab@example.com` -> `support@example.com`, lowercased."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


class InboundHandler:
    """aiosmtpd handler: which inbox a recipient belongs to, and storing the mail."""

    def __init__(self, intake: MailIntake) -> None:
        self.intake = intake
        self._routes: dict[str, int] = {}
        self._loaded_at = float("-inf")

    async def routes(self) -> dict[str, int]:
        """address -> email inbox id, from the inboxes' settings (cached briefly)."""
        if time.monotonic() - self._loaded_at < ROUTES_TTL:
            return self._routes
        found: dict[str, int] = {}
        async with self.intake.sessions() as session:
            rows = await session.execute(
                select(Inbox).where(
                    Inbox.channel == Channel.EMAIL.value, Inbox.disabled_at.is_(None)
                )
            )
            for inbox in rows.scalars():
                try:
                    settings = EmailSettings.of(inbox)
                except EmailConfigError as exc:
                    log.warning("email_inbox_misconfigured", extra={"error": str(exc)})
                    continue
                for address in settings.addresses:
                    found.setdefault(base_address(address), inbox.id)
        self._routes, self._loaded_at = found, time.monotonic()
        return found

    def forget(self) -> None:
        """Read the inboxes again on the next recipient (after a settings change)."""
        self._loaded_at = float("-inf")

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        if base_address(address) not in await self.routes():
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or (
            envelope.content if isinstance(envelope.content, bytes) else b""
        )
        routes = await self.routes()
        inboxes = dict.fromkeys(routes[base_address(a)] for a in envelope.rcpt_tos)
        try:
            for inbox_id in inboxes:
                await self.intake.take(inbox_id, raw, envelope_from=envelope.mail_from)
        except Exception:
            log.exception("email_store_failed")
            return "451 4.3.0 could not store the message now; try again later"
        return "250 2.0.0 Message accepted"


async def serve(
    intake: MailIntake, host: str, port: int, *, hostname: str | None = None
) -> asyncio.Server:
    """Listen for SMTP on host:port in the running loop (close the returned server)."""
    handler = InboundHandler(intake)
    loop = asyncio.get_running_loop()

    def protocol() -> Any:
        return SMTP(handler, hostname=hostname, data_size_limit=MAX_SIZE, loop=loop)

    return await loop.create_server(protocol, host, port)
