"""@mentions of agents in private notes, each read or not by the agent named.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inbox.model

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mentions",
        sa.Column("id", inbox.model.BigId, primary_key=True),
        sa.Column("message_id", inbox.model.BigId,
                  sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("conversation_id", inbox.model.BigId,
                  sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("author_agent_id", sa.Integer(),
                  sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", inbox.model.UtcDateTime(timezone=True), nullable=False),
        sa.Column("read_at", inbox.model.UtcDateTime(timezone=True), nullable=True),
    )  # fmt: skip
    op.create_index("ix_mentions_message_id", "mentions", ["message_id"])
    op.create_index("ix_mentions_agent_id", "mentions", ["agent_id"])


def downgrade() -> None:
    op.drop_table("mentions")
