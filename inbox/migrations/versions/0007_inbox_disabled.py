"""An admin can disable an inbox: it stops taking messages (widget, webhooks, pollers)
and keeps its history.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inbox.model

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inboxes") as batch:
        batch.add_column(
            sa.Column("disabled_at", inbox.model.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("inboxes") as batch:
        batch.drop_column("disabled_at")
