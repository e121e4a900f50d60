"""Indexes for every listing: withdrawals newest first (by customer, by status, everyone's),
operator tasks oldest first (by state, everyone's)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_withdrawals_user_created": ("withdrawals", ["user_id", "created_at", "workflow_id"]),
    "ix_withdrawals_status_created": ("withdrawals", ["status", "created_at", "workflow_id"]),
    "ix_withdrawals_created": ("withdrawals", ["created_at", "workflow_id"]),
    "ix_operator_tasks_state_created": ("operator_tasks", ["state", "created_at", "id"]),
    "ix_operator_tasks_created": ("operator_tasks", ["created_at", "id"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
