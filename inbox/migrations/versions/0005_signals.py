"""CRM webhook: its queue, the last signals sent per contact, its change cursors.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inbox.model

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = inbox.model.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "crm_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.Column("failed_at", WHEN, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_crm_deliveries_contact_id", "crm_deliveries", ["contact_id"])
    op.create_index("ix_crm_deliveries_due", "crm_deliveries", ["delivered_at", "next_attempt_at"])
    op.create_table(
        "crm_contact_state",
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("signals_hash", sa.String(64), nullable=False),
        sa.Column("queued_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contact_id"),
    )
    op.create_table(
        "signal_cursors",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("signal_cursors")
    op.drop_table("crm_contact_state")
    op.drop_index("ix_crm_deliveries_due", "crm_deliveries")
    op.drop_index("ix_crm_deliveries_contact_id", "crm_deliveries")
    op.drop_table("crm_deliveries")
