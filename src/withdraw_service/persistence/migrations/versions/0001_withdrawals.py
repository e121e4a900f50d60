"""withdrawals and their history

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "withdrawals",
        sa.Column("workflow_id", sa.String(64), primary_key=True),
        sa.Column("correlation_id", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.String(128), nullable=False, index=True),
        sa.Column("status", sa.String(40), nullable=False, index=True),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("product_number", sa.String(64), nullable=False),
        sa.Column("dw_account_id", sa.String(64), nullable=True, index=True),
        sa.Column("active_account", sa.String(64), nullable=True, unique=True),
        sa.Column("authorisation_id", sa.String(64), nullable=True),
        sa.Column("otp_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transfer_reference_number", sa.String(64), nullable=True),
        sa.Column("dw_redemption_id", sa.String(128), nullable=True),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "withdrawal_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "workflow_id",
            sa.String(64),
            sa.ForeignKey("withdrawals.workflow_id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("workflow_id", "seq", name="uq_history_workflow_seq"),
    )


def downgrade() -> None:
    op.drop_table("withdrawal_history")
    op.drop_table("withdrawals")
