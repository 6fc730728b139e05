"""Notes about a customer, shown beside every conversation with them.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inbox.model

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_notes",
        sa.Column("id", inbox.model.BigId, primary_key=True),
        sa.Column("contact_id", inbox.model.BigId,
                  sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author_agent_id", sa.Integer(),
                  sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", inbox.model.UtcDateTime(timezone=True), nullable=False),
    )  # fmt: skip
    op.create_index("ix_contact_notes_contact_id", "contact_notes", ["contact_id"])


def downgrade() -> None:
    op.drop_table("contact_notes")
