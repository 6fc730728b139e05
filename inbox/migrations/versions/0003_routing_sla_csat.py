"""Routing policies, conversation language and reply address, SLA breaches, CSAT answers.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inbox.model

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.add_column(
            sa.Column("routing_policy", sa.String(20), nullable=False, server_default="manual")
        )
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column("last_assigned_at", inbox.model.UtcDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))
        batch.add_column(sa.Column("reply_to_external_id", sa.String(255), nullable=True))
        batch.add_column(
            sa.Column("csat_requested_at", inbox.model.UtcDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "sla_breaches",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("due_at", inbox.model.UtcDateTime(timezone=True), nullable=False),
        sa.Column("breached_at", inbox.model.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "kind", "due_at"),
    )
    op.create_index("ix_sla_breaches_conversation_id", "sla_breaches", ["conversation_id"])
    op.create_table(
        "csat_responses",
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", inbox.model.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id"),
    )


def downgrade() -> None:
    op.drop_table("csat_responses")
    op.drop_index("ix_sla_breaches_conversation_id", "sla_breaches")
    op.drop_table("sla_breaches")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("csat_requested_at")
        batch.drop_column("reply_to_external_id")
        batch.drop_column("language")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("last_assigned_at")
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("routing_policy")
