"""SQLAlchemy 2 tables. Alembic migrations under `migrations/` create them; keep both in step."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def as_utc(value: datetime) -> datetime:
    """Every instant is stored and read as UTC: SQLite drops the offset on write and hands
    back naive values, so an offset-less value here is UTC already."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class WithdrawalRow(Base):
    __tablename__ = "withdrawals"
    # The listings (newest first, by customer, by status, or everyone's): each is one index
    # range scan in its order, whatever the table's size.
    __table_args__ = (
        Index("ix_withdrawals_user_created", "user_id", "created_at", "workflow_id"),
        Index("ix_withdrawals_status_created", "status", "created_at", "workflow_id"),
        Index("ix_withdrawals_created", "created_at", "workflow_id"),
    )

    workflow_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    product_number: Mapped[str] = mapped_column(String(64))
    dw_account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # The one-in-flight rule: set while the withdrawal is in flight, NULL once it ends. The
    # unique constraint (NULLs never collide) is what refuses a second withdrawal, not a read.
    active_account: Mapped[str | None] = mapped_column(String(64), unique=True)
    authorisation_id: Mapped[str | None] = mapped_column(String(64))
    otp_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    transfer_reference_number: Mapped[str | None] = mapped_column(String(64))
    dw_redemption_id: Mapped[str | None] = mapped_column(String(128))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    compensation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The workflow's history length when the stored state was decided (SaveToDbInput.version):
    # a later decision always has a larger one. NULL: saved before versions (as 0).
    saved_version: Mapped[int | None] = mapped_column(BigInteger)


class WithdrawalHistoryRow(Base):
    __tablename__ = "withdrawal_history"
    __table_args__ = (UniqueConstraint("workflow_id", "seq", name="uq_history_workflow_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("withdrawals.workflow_id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OperatorTaskRow(Base):
    """Work for a human: money that the workflow could not settle by itself."""

    __tablename__ = "operator_tasks"
    __table_args__ = (
        UniqueConstraint("workflow_id", "kind", name="uq_task_workflow_kind"),
        # The tasks listing: by state, oldest first, paged by (created_at, id).
        Index("ix_operator_tasks_state_created", "state", "created_at", "id"),
        Index("ix_operator_tasks_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("withdrawals.workflow_id", ondelete="CASCADE"), index=True
    )
    correlation_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)


class NotificationRow(Base):
    """A message to the customer, recorded once per withdrawal and kind (the outbox)."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("workflow_id", "kind", name="uq_notification_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("withdrawals.workflow_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IdempotencyKeyRow(Base):
    """The withdrawal an (user, Idempotency-Key) pair started, and what was asked."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(64))
    correlation_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FinalizeKeyRow(Base):
    """An Idempotency-Key of a finalize: its withdrawal, and the answer once it was final (a
    state or a refusal, never the OTP)."""

    __tablename__ = "finalize_keys"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AbuseCounterRow(Base):
    """How often a user did one kind of thing in one window (api/limits.py): the abuse
    limits hold across API replicas and restarts because they are counted here."""

    __tablename__ = "abuse_counters"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    # When the window is over and the row may be removed (indexed for the purge).
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
