"""The label catalogue: names, colours and meanings the console offers.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inbox.model

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_definitions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("colour", sa.String(7), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("created_at", inbox.model.UtcDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("label_definitions")
