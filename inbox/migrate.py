"""Run the Alembic migrations shipped in inbox/migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def outside_the_models(name: str | None, kind: str, _parents: object = None) -> bool:
    """False for the schema objects that migrations make and the models do not describe
    (the full-text search of migration 0008), so comparing the two leaves them out."""
    return not (name or "").startswith("ix_messages_text_search")


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate to `revision`. Safe to call from inside a running event loop's thread pool."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
