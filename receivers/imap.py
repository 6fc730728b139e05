"""IMAP inbound: read an email inbox's mailbox with aioimaplib.

New mail is found by UID. The mailbox's UIDVALIDITY and the last UID taken are
kept in `ChannelCursor(inbox_id, "imap:<mailbox>")`, advanced after each mail is
committed, so a restart neither misses nor repeats mail (a crash between the
commit and the cursor update refetches one mail, which its Message-ID makes a
no-op). When the server's UIDVALIDITY changes, the whole mailbox is read again and
the Message-IDs keep out what was stored before.

Mail is read with BODY.PEEK[], so it stays unread for people using the mailbox.
With the IDLE capability the server tells us of new mail; without it, we poll.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import aioimaplib

from connectors.email import EmailConfigError, EmailSettings
from inbox.model import ChannelCursor
from inbox.relay import Relay
from receivers.mail_intake import MailIntake

log = logging.getLogger("crocevia.email.imap")

CHUNK = 50
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH = re.compile(rb"FETCH \(.*?UID (\d+).*\{(\d+)\}$")


class ImapError(RuntimeError):
    """The IMAP server refused a command."""


@dataclass(slots=True)
class Cursor:
    uidvalidity: int
    last_uid: int


def parse_fetch(lines: list[bytes | bytearray]) -> list[tuple[int, bytes]]:
    """(uid, message bytes) pairs from a `UID FETCH ... (UID BODY.PEEK[])` response."""
    found: list[tuple[int, bytes]] = []
    for n, line in enumerate(lines[:-1]):
        if isinstance(line, bytearray):
            continue
        m = _FETCH.search(line)
        if m and isinstance(lines[n + 1], bytearray):
            found.append((int(m.group(1)), bytes(lines[n + 1])))
    return sorted(found)


def _check(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        detail = b" ".join(bytes(x) for x in response.lines[-1:]).decode(errors="replace")
        raise ImapError(f"{what}: {response.result} {detail}")
    return response


async def open_imap(s: EmailSettings, timeout: float) -> aioimaplib.IMAP4:
    """A logged-in IMAP connection to the inbox's server (closed again on failure)."""
    if not s.imap_host:
        raise EmailConfigError("no imap_host")
    if s.imap_security == "tls":
        client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(s.imap_host, s.imap_port, timeout=timeout)
    else:
        client = aioimaplib.IMAP4(s.imap_host, s.imap_port, timeout=timeout)
    try:
        await client.wait_hello_from_server()
        password = s.secret("imap_password")
        if password is None:
            raise EmailConfigError("set imap_password_env or imap_password_file")
        _check(await client.login(s.imap_username or s.address, password), "LOGIN")
    except BaseException:
        await close_imap(client)
        raise
    return client


async def close_imap(client: aioimaplib.IMAP4) -> None:
    """Log out (closing the connection); never raises."""
    try:
        if client.has_pending_idle():
            client.idle_done()
        if client.get_state() in ("AUTH", "SELECTED", "NONAUTH"):
            await asyncio.wait_for(client.logout(), 5)
    except (aioimaplib.AioImapException, OSError, TimeoutError, AttributeError):
        pass
    transport = getattr(client.protocol, "transport", None)
    if transport is not None and not transport.is_closing():
        transport.close()


class ImapFetcher:
    """Takes new mail from one inbox's IMAP mailbox into the inbox."""

    def __init__(
        self,
        inbox_id: int,
        settings: EmailSettings,
        intake: MailIntake,
        *,
        idle_timeout: float = 25 * 60,
        timeout: float = 30.0,
    ) -> None:
        if not settings.imap_host:
            raise EmailConfigError(f"inbox {inbox_id} has no imap_host")
        self.inbox_id = inbox_id
        self.settings = settings
        self.intake = intake
        self.idle_timeout = idle_timeout
        self.timeout = timeout
        self.kind = f"imap:{settings.imap_mailbox}"[:40]
        self.idling = asyncio.Event()  # set while waiting in IDLE (tests watch it)

    @property
    def relay(self) -> Relay | None:
        return self.intake.relay

    async def connect(self) -> aioimaplib.IMAP4:
        return await open_imap(self.settings, self.timeout)

    @staticmethod
    async def close(client: aioimaplib.IMAP4) -> None:
        await close_imap(client)

    async def _cursor(self) -> Cursor | None:
        async with self.intake.sessions() as session:
            row = await session.get(ChannelCursor, (self.inbox_id, self.kind))
            if row is None or "uidvalidity" not in row.state:
                return None
            return Cursor(int(row.state["uidvalidity"]), int(row.state.get("last_uid", 0)))

    async def _save(self, cursor: Cursor) -> None:
        async with self.intake.sessions() as session, session.begin():
            row = await session.get(ChannelCursor, (self.inbox_id, self.kind), with_for_update=True)
            state = {"uidvalidity": cursor.uidvalidity, "last_uid": cursor.last_uid}
            if row is None:
                session.add(ChannelCursor(inbox_id=self.inbox_id, kind=self.kind, state=state))
            elif (
                row.state.get("uidvalidity") != cursor.uidvalidity
                or int(row.state.get("last_uid", 0)) < cursor.last_uid
            ):
                row.state = state  # never move back (two fetchers racing)

    async def select(self, client: aioimaplib.IMAP4) -> Cursor:
        """Select the mailbox; the cursor to read from (reset if UIDVALIDITY changed)."""
        response = _check(await client.select(self.settings.imap_mailbox), "SELECT")
        uidvalidity = 0
        for line in response.lines:
            m = _UIDVALIDITY.search(bytes(line))
            if m:
                uidvalidity = int(m.group(1))
        saved = await self._cursor()
        if saved is None or saved.uidvalidity != uidvalidity:
            if saved is not None:
                log.warning("imap_uidvalidity_changed", extra={"inbox": self.inbox_id})
            saved = Cursor(uidvalidity, 0)
            await self._save(saved)
        return saved

    async def fetch_new(self, client: aioimaplib.IMAP4, cursor: Cursor) -> int:
        """Take every mail after the cursor; returns how many were new to the inbox."""
        found = _check(
            await client.uid_search(f"UID {cursor.last_uid + 1}:*", charset=None), "SEARCH"
        )
        uids = sorted(  # aioimaplib hands the untagged "SEARCH" line over without its name
            int(tok)
            for line in found.lines[:-1]
            for tok in bytes(line).removeprefix(b"SEARCH").split()
            if tok.isdigit() and int(tok) > cursor.last_uid
        )
        stored = 0
        for start in range(0, len(uids), CHUNK):
            chunk = ",".join(str(u) for u in uids[start : start + CHUNK])
            response = _check(await client.uid("fetch", chunk, "(UID BODY.PEEK[])"), "FETCH")
            for uid, raw in parse_fetch(response.lines):
                if uid <= cursor.last_uid:
                    continue
                if await self.intake.take(self.inbox_id, raw) is not None:
                    stored += 1
                cursor.last_uid = uid
                await self._save(cursor)
        return stored

    async def fetch_once(self) -> int:
        """Connect, take what is new, log out."""
        client = await self.connect()
        try:
            return await self.fetch_new(client, await self.select(client))
        finally:
            await self.close(client)

    async def _wait(self, client: aioimaplib.IMAP4) -> None:
        """Until the server reports a change (IDLE) or the poll interval passes."""
        if not client.has_capability("IDLE"):
            await asyncio.sleep(self.settings.poll_interval)
            return
        idle = await client.idle_start(timeout=self.idle_timeout)
        self.idling.set()
        try:
            while client.has_pending_idle():
                pushed = await client.wait_server_push(self.idle_timeout + 30)
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(b"EXISTS" in bytes(line) for line in pushed):
                    break
        finally:
            self.idling.clear()
            if client.has_pending_idle():
                client.idle_done()
            await asyncio.wait_for(idle, self.timeout)

    async def run(self) -> None:
        """Take mail until cancelled, reconnecting after errors."""
        backoff = 1.0
        while True:
            try:
                client = await self.connect()
            except (aioimaplib.AioImapException, ImapError, OSError, TimeoutError) as exc:
                log.warning(
                    "imap_connect_failed", extra={"inbox": self.inbox_id, "error": str(exc)}
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 300)
                continue
            try:
                cursor = await self.select(client)
                while True:
                    await self.fetch_new(client, cursor)
                    backoff = 1.0
                    await self._wait(client)
            except (aioimaplib.AioImapException, ImapError, OSError, TimeoutError) as exc:
                log.warning("imap_failed", extra={"inbox": self.inbox_id, "error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 300)
            finally:
                await self.close(client)
