"""Audit log, segments, lifecycle history, contact merges, erasure mark.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inbox.model

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = inbox.model.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("erased_at", WHEN, nullable=True))
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor_agent_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("target_type", sa.String(30), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["actor_agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_by_agent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["created_by_agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "lifecycle_changes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("from_stage", sa.String(20), nullable=True),
        sa.Column("to_stage", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("actor_agent_id", sa.Integer(), nullable=True),
        sa.Column("at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lifecycle_changes_contact_id", "lifecycle_changes", ["contact_id"])
    op.create_table(
        "contact_merges",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kept_contact_id", BIG_ID, nullable=False),
        sa.Column("merged_contact_id", BIG_ID, nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("merged_by_agent_id", sa.Integer(), nullable=True),
        sa.Column("merged_at", WHEN, nullable=False),
        sa.Column("undone_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["kept_contact_id"], ["contacts.id"]),
        sa.ForeignKeyConstraint(["merged_contact_id"], ["contacts.id"]),
        sa.ForeignKeyConstraint(["merged_by_agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contact_merges_kept_contact_id", "contact_merges", ["kept_contact_id"])
    op.create_index("ix_contact_merges_merged_contact_id", "contact_merges", ["merged_contact_id"])


def downgrade() -> None:
    op.drop_table("contact_merges")
    op.drop_table("lifecycle_changes")
    op.drop_table("segments")
    op.drop_index("ix_audit_log_action", "audit_log")
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("erased_at")
