"""Outbound event webhooks: subscriptions, their delivery queue and log, and the outbox
column that says which events the webhooks have looked at.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inbox.model

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("hooked_at", inbox.model.UtcDateTime(timezone=True), nullable=True)
        )
    # Events written before this migration are not sent to subscriptions made after it.
    op.execute(sa.text("UPDATE outbox SET hooked_at = created_at"))
    op.create_index("ix_outbox_unhooked", "outbox", ["hooked_at", "id"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("created_at", inbox.model.UtcDateTime(timezone=True), nullable=False),
        sa.Column("since", inbox.model.UtcDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", inbox.model.BigId, primary_key=True),
        sa.Column("subscription_id", sa.Integer(),
                  sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("outbox_id", inbox.model.BigId, nullable=False),
        sa.Column("contact_id", inbox.model.BigId,
                  sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=True),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", inbox.model.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", inbox.model.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", inbox.model.UtcDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("subscription_id", "outbox_id", name="uq_webhook_delivery"),
    )  # fmt: skip
    op.create_index("ix_webhook_deliveries_subscription_id", "webhook_deliveries",
                    ["subscription_id"])  # fmt: skip
    op.create_index("ix_webhook_deliveries_contact_id", "webhook_deliveries", ["contact_id"])
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries",
                    ["status", "next_attempt_at"])  # fmt: skip


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_outbox_unhooked", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("hooked_at")
