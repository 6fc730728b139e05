"""The audit log: admin actions, merges, exports and erasures, readable by admins.

Entries are written in the transaction of the change they describe, so a change that
rolls back leaves no entry and an entry never lacks its change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.model import AuditEntry, utcnow
from inbox.serialize import iso


def record(
    session: AsyncSession,
    actor_agent_id: int | None,
    action: str,
    target_type: str,
    target_id: object = None,
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(
        at=utcnow(), actor_agent_id=actor_agent_id, action=action, target_type=target_type,
        target_id=None if target_id is None else str(target_id), details=details,
    )  # fmt: skip
    session.add(entry)
    return entry


async def recent(
    session: AsyncSession, *, action: str | None = None, before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:  # fmt: skip
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action is not None:
        q = q.where(AuditEntry.action == action)
    if before_id is not None:
        q = q.where(AuditEntry.id < before_id)
    return [
        {"id": e.id, "at": iso(e.at), "actor_agent_id": e.actor_agent_id, "action": e.action,
         "target_type": e.target_type, "target_id": e.target_id, "details": e.details}
        for e in (await session.execute(q)).scalars()
    ]  # fmt: skip
