"""Delivery statuses that platforms report for our replies (sent, delivered, read, failed)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from connectors.base import DeliveryStatusUpdate
from gateway.runtime import Runtime
from inbox.model import DeliveryStatus, Message, Outbox
from inbox.replies import set_delivery_status


async def apply_statuses(rt: Runtime, channel: str, updates: Sequence[DeliveryStatusUpdate]) -> int:
    """Move each reply named by its platform id; unknown ids and backward moves are ignored."""
    moved = 0
    rows: list[Outbox] = []
    async with rt.sessions() as session, session.begin():
        for update in updates:
            try:
                status = DeliveryStatus(update.status)
            except ValueError:
                continue
            msg = (
                await session.execute(
                    select(Message)
                    .where(Message.external_id == update.external_id)
                    .where(Message.direction == "out")
                )
            ).scalar_one_or_none()
            if msg is None:
                continue
            done = await set_delivery_status(
                session, msg.id, status, error=update.error, outbox=rows
            )
            moved += done is not None
    await rt.relay.publish_quietly(rows)
    return moved
