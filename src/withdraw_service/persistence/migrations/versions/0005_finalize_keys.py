"""idempotency keys of PUT /withdraw/finalize, with their first final answer

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finalize_keys",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_finalize_keys_created_at", "finalize_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_finalize_keys_created_at", table_name="finalize_keys")
    op.drop_table("finalize_keys")
