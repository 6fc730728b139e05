"""Full-text search over message texts on PostgreSQL: a GIN index on the Italian text
search vector (stemming: "rimborsi" finds "rimborso"). SQLite searches without an index
(inbox/search.py): an FTS5 table kept by triggers made every message insert heavier and
two writers racing on one conversation then met "database is locked".

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_messages_text_search ON messages "
            "USING gin (to_tsvector('italian', text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_messages_text_search")
