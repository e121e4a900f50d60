"""abuse_counters: per-user counts in fixed windows (requests, initiations, wrong OTPs)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "abuse_counters",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_abuse_counters_expires_at", "abuse_counters", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_abuse_counters_expires_at", table_name="abuse_counters")
    op.drop_table("abuse_counters")
