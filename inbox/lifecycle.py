"""Lifecycle stages: lead → prospect → customer (→ churned), and every move recorded.

A stage changes in four ways, each recorded as a `LifecycleChange` with its time and
source: an agent sets it (`agent`), the site reports the customer through the widget's
`setUser` attributes (`site`), a rule fires (`rule`), or a merge carries the merged
contact's further stage over (`merge`). Marketing's funnel counts those rows.

The rules (RULES) are data in code; `apply_rules` runs them in bounded batches and is
meant to be called periodically by the router (every RULES_EVERY is plenty).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, distinct, exists, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.model import Contact, Conversation, LifecycleChange, Outbox, utcnow
from inbox.serialize import iso

STAGES = ("lead", "prospect", "customer", "churned")
SOURCES = ("agent", "site", "rule", "merge")
#: How far along the funnel a stage is (churned customers were customers).
RANK = {"lead": 0, "prospect": 1, "customer": 2, "churned": 2}
CHURN_AFTER = timedelta(days=180)
ORDERS_ATTRIBUTE = "orders_count"
BATCH = 500
RULES_EVERY = timedelta(minutes=1)


class InvalidStage(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    to_stage: str
    when: str


RULES = (
    Rule("first_message", "lead", "the contact's first inbound message (no history yet)"),
    Rule(
        "ordered",
        "customer",
        f"the site reports {ORDERS_ATTRIBUTE} >= 1 (lead, prospect, or churned with a new order)",
    ),  # fmt: skip
    Rule(
        "churned",
        "churned",
        f"a customer with no message and no change for {CHURN_AFTER.days} days",
    ),
)


async def _has_history(session: AsyncSession, contact_id: int) -> bool:
    found = await session.scalar(
        select(LifecycleChange.id).where(LifecycleChange.contact_id == contact_id).limit(1)
    )
    return found is not None


async def set_stage(
    session: AsyncSession,
    contact: Contact,
    stage: str,
    *,
    source: str,
    actor_agent_id: int | None = None,
    now: datetime | None = None,
) -> LifecycleChange | None:
    """Move the contact to `stage` and record it; None when it is there already.

    A contact without any history first gets its starting entry (None → its current
    stage, at its creation), so that every contact's history is complete."""
    if stage not in STAGES:
        raise InvalidStage(f"lifecycle_stage must be one of {', '.join(STAGES)}")
    if source not in SOURCES:
        raise InvalidStage(f"unknown source {source!r}")
    if stage == contact.lifecycle_stage:
        return None
    now = now or utcnow()
    if not await _has_history(session, contact.id):
        session.add(
            LifecycleChange(contact_id=contact.id, from_stage=None, to_stage=contact.lifecycle_stage,
                            source="rule", at=min(contact.created_at, now))
        )  # fmt: skip
    change = LifecycleChange(
        contact_id=contact.id, from_stage=contact.lifecycle_stage, to_stage=stage, source=source,
        actor_agent_id=actor_agent_id, at=now,
    )  # fmt: skip
    session.add(change)
    contact.lifecycle_stage = stage
    await session.flush()
    return change


async def history(session: AsyncSession, contact_id: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(LifecycleChange)
        .where(LifecycleChange.contact_id == contact_id)
        .order_by(LifecycleChange.at, LifecycleChange.id)
    )
    return [
        {"id": c.id, "from_stage": c.from_stage, "to_stage": c.to_stage, "source": c.source,
         "actor_agent_id": c.actor_agent_id, "at": iso(c.at)}
        for c in rows.scalars()
    ]  # fmt: skip


def _orders(attributes: dict[str, Any] | None) -> float | None:
    value = (attributes or {}).get(ORDERS_ATTRIBUTE)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


async def apply_site_attributes(
    session: AsyncSession, contact: Contact, before: dict[str, Any], now: datetime | None = None
) -> LifecycleChange | None:
    """The `ordered` rule, run when the site sends attributes: orders_count >= 1 makes a
    lead or prospect a customer, and a churned one again when the count went up."""
    orders, previous = _orders(contact.attributes), _orders(before)
    if orders is None or orders < 1:
        return None
    stage = contact.lifecycle_stage
    grew = previous is None or orders > previous
    if stage in ("lead", "prospect") or (stage == "churned" and grew):
        return await set_stage(session, contact, "customer", source="site", now=now)
    return None


async def _first_message_rule(session: AsyncSession) -> int:
    """Contacts who wrote (have a conversation) and have no history get their start."""
    no_history = ~exists().where(LifecycleChange.contact_id == Conversation.contact_id)
    rows = (
        await session.execute(
            select(Conversation.contact_id, func.min(Conversation.created_at))
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(no_history, Contact.merged_into_id.is_(None), Contact.erased_at.is_(None))
            .group_by(Conversation.contact_id)
            .limit(BATCH)
        )
    ).all()
    if not rows:
        return 0
    stages = dict(
        (
            await session.execute(
                select(Contact.id, Contact.lifecycle_stage).where(
                    Contact.id.in_([r[0] for r in rows])
                )
            )
        ).all()
    )
    session.add_all(
        LifecycleChange(contact_id=contact_id, from_stage=None, to_stage=stages[contact_id],
                        source="rule", at=first)
        for contact_id, first in rows
    )  # fmt: skip
    return len(rows)


async def _churn_rule(session: AsyncSession, now: datetime) -> int:
    cutoff = now - CHURN_AFTER
    recent_message = exists().where(
        Conversation.contact_id == Contact.id,
        (Conversation.last_message_at > cutoff) | (Conversation.created_at > cutoff),
    )
    recent_change = exists().where(
        LifecycleChange.contact_id == Contact.id, LifecycleChange.at > cutoff
    )
    rows = (
        await session.execute(
            select(Contact)
            .where(Contact.lifecycle_stage == "customer")
            .where(Contact.merged_into_id.is_(None), Contact.erased_at.is_(None))
            .where(Contact.created_at <= cutoff)  # known for longer than the idle period
            .where(~recent_message, ~recent_change)
            .limit(BATCH)
        )
    ).scalars()
    changed = 0
    for contact in rows:
        changed += await set_stage(session, contact, "churned", source="rule", now=now) is not None
    return changed


async def apply_rules(session: AsyncSession, now: datetime, outbox: list[Outbox]) -> int:
    """Run the time- and history-based rules (first message → lead; customer idle for
    CHURN_AFTER → churned) in the caller's transaction; returns how many contacts moved.
    `outbox` receives events (none today: stages are read when a console opens a contact).
    The `ordered` rule runs when the site sends attributes (apply_site_attributes)."""
    del outbox  # kept for the router's step signature
    changed = await _first_message_rule(session)
    changed += await _churn_rule(session, now)
    await session.flush()
    return changed


async def funnel(
    session: AsyncSession, start: datetime, end: datetime,
    *, contacts: ColumnElement[bool] | None = None,
) -> dict[str, int]:  # fmt: skip
    """How many distinct contacts entered each stage in [start, end): the stage → count
    of every stage in STAGES (0 when none). Merged contacts count once (their history
    moved to the kept contact); erased contacts still count (history is an aggregate)."""
    rows = await session.execute(
        select(LifecycleChange.to_stage, func.count(distinct(LifecycleChange.contact_id)))
        .where(LifecycleChange.at >= start, LifecycleChange.at < end)
        .where(
            true()
            if contacts is None
            else LifecycleChange.contact_id.in_(select(Contact.id).where(contacts))
        )
        .group_by(LifecycleChange.to_stage)
    )
    counts = {stage: int(n) for stage, n in rows.all()}
    return {stage: counts.get(stage, 0) for stage in STAGES}
