"""An agent's reply through the REST API, and the wait for its delivery status: what the
connector tests (Telegram, X, Meta, email) do through the real gateway and worker."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.model import Message


async def reply(http: httpx.AsyncClient, conv_id: int, text: str) -> int:
    """Post an agent's reply; its message id."""
    r = await http.post(f"/api/conversations/{conv_id}/messages",
                        json={"text": text, "client_id": secrets.token_hex(8)})  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def wait_status(
    db: async_sessionmaker[AsyncSession], message_id: int, *statuses: str
) -> Message:
    """The message once its status is one of `statuses` (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        async with db() as session:
            msg = await session.get_one(Message, message_id)
        if msg.status in statuses:
            return msg
        assert time.monotonic() < deadline, f"message {message_id} is {msg.status}, not {statuses}"
        await asyncio.sleep(0.05)
