"""The Alembic migrations build exactly the schema the models describe, and step back down."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from inbox.migrate import downgrade, outside_the_models, upgrade
from inbox.model import Base


def _context(conn):  # type: ignore[no-untyped-def]
    return MigrationContext.configure(conn, opts={"include_name": outside_the_models})


def test_migrations_match_the_models_and_downgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(_context(conn), Base.metadata) == []
        downgrade(url, "base")
        upgrade(url)
        with engine.connect() as conn:
            assert compare_metadata(_context(conn), Base.metadata) == []
    finally:
        engine.dispose()
