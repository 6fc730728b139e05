"""The long-running email processes behind `crocevia email fetch` and `crocevia email
smtp-server`: a database engine, Redis for the events, the outbox relay, then the
IMAP loop or the SMTP server until interrupted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from connectors.email import EmailConfigError, EmailSettings
from inbox.db import create_engine, sessionmaker
from inbox.files import FileStore
from inbox.ingest import Tagger
from inbox.model import Inbox
from inbox.redis_client import open_redis
from inbox.relay import Relay
from inbox.types import Channel
from receivers.imap import ImapFetcher
from receivers.mail_intake import MailIntake
from receivers.smtp_server import serve


class EmailService:
    def __init__(
        self, database_url: str, redis_url: str, files_dir: Path, tagger: Tagger | None = None
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.files_dir = files_dir
        self.tagger = tagger

    @asynccontextmanager
    async def intake(self) -> AsyncIterator[MailIntake]:
        engine = create_engine(self.database_url)
        redis = open_redis(self.redis_url, health_check_interval=10)
        relay = Relay(redis, sessionmaker(engine))
        try:
            async with relay.running():
                yield MailIntake(
                    sessionmaker(engine), relay, FileStore(self.files_dir), self.tagger
                )
        finally:
            await redis.aclose()
            await engine.dispose()

    async def fetch(self, inbox_id: int, *, once: bool = False) -> None:
        async with self.intake() as intake:
            async with intake.sessions() as session:
                inbox = await session.get(Inbox, inbox_id)
            if inbox is None or inbox.channel != Channel.EMAIL.value:
                raise EmailConfigError(f"no email inbox with id {inbox_id}")
            fetcher = ImapFetcher(inbox.id, EmailSettings.of(inbox), intake)
            if once:
                await fetcher.fetch_once()
            else:
                await fetcher.run()

    async def smtp_server(self, host: str, port: int) -> None:
        async with self.intake() as intake:
            server = await serve(intake, host, port)
            try:
                await server.serve_forever()
            finally:
                server.close()
                await server.wait_closed()
