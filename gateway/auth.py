"""Agent logins: argon2 password hashes and bearer session tokens.

argon2id with argon2-cffi's RFC 9106 "low memory" profile: time_cost=3,
memory_cost=64 MiB, parallelism=4. A session token is 32 random bytes; only its
SHA-256 is stored, it expires after CROCEVIA_SESSION_HOURS and logout revokes it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.model import Agent, AgentSession, utcnow

hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
# Verifying against this keeps an unknown email as slow as a wrong password.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def login(
    session: AsyncSession, email: str, password: str, hours: int
) -> tuple[Agent, str, AgentSession] | None:
    agent = (
        await session.execute(select(Agent).where(func.lower(Agent.email) == email.strip().lower()))
    ).scalar_one_or_none()
    try:
        hasher.verify(agent.password_hash if agent else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if agent is None or not agent.active:
        return None
    if hasher.check_needs_rehash(agent.password_hash):
        agent.password_hash = hasher.hash(password)
    token = secrets.token_urlsafe(32)
    row = AgentSession(
        token_hash=_token_hash(token),
        agent_id=agent.id,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    return agent, token, row


async def agent_for_token(session: AsyncSession, token: str) -> Agent | None:
    row = await session.get(AgentSession, _token_hash(token))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    agent = await session.get(Agent, row.agent_id)
    return agent if agent is not None and agent.active else None


async def logout(session: AsyncSession, token: str) -> None:
    row = await session.get(AgentSession, _token_hash(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
