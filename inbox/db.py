"""Engines and sessions. SQLite (embedded, the default) and PostgreSQL (production)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event, make_url
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from inbox import json_codec


def async_url(url: str) -> str:
    """Accept plain URLs and pick the async driver: sqlite+aiosqlite, postgresql+asyncpg."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith(("postgresql:", "postgres:")):
        return "postgresql+asyncpg:" + url.split(":", 1)[1]
    return url


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    kwargs.setdefault("json_serializer", json_codec.dumps)  # JSON columns (outbox payloads)
    kwargs.setdefault("json_deserializer", json_codec.loads_stored)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def create_sqlite_engine(url: str) -> Engine:
    """A synchronous engine on the same SQLite file (the intake's writer thread,
    inbox/writes.py): the driver is Python's sqlite3, used from one thread at a time."""
    sync_url = make_url(async_url(url)).set(drivername="sqlite+pysqlite")
    engine = create_sync_engine(
        sync_url,
        connect_args={"timeout": 30, "check_same_thread": False},
        json_serializer=json_codec.dumps,
        json_deserializer=json_codec.loads_stored,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
