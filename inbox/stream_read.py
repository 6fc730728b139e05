"""Reading a Redis stream's entries in order, typed: ids as text, fields as a dict
(redis-py's own types allow None everywhere)."""

from __future__ import annotations

from redis.asyncio import Redis

Fields = dict[bytes | str, bytes | str]


def text_of(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def entries_from(
    redis: Redis, stream: str, start: str, count: int
) -> list[tuple[str, Fields]]:
    """Up to `count` entries of `stream` from `start` (an id, "(id" for after it, or "-")."""
    raw = await redis.xrange(stream, start, "+", count=count) or []
    return [(text_of(entry_id), dict(fields or {})) for entry_id, fields in raw if entry_id]


def after(entry_id: str) -> str:
    """The `start` that reads on from just after this entry."""
    return f"({entry_id}"


def read_reply(reply: object) -> list[tuple[str, Fields]]:
    """The entries of an XREAD or XREADGROUP reply (any streams), in order."""
    found: list[tuple[str, Fields]] = []
    if not isinstance(reply, list | dict):
        return found
    streams = reply.values() if isinstance(reply, dict) else (s[1] for s in reply)
    for entries in streams:
        if isinstance(entries, list) and entries and isinstance(entries[0], list):
            entries = entries[0]  # RESP3 dict reply: {stream: [[entries]]}
        for entry_id, fields in entries or []:
            if entry_id is not None:
                found.append((text_of(entry_id), dict(fields or {})))
    return found
