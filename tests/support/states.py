"""Withdrawal states for tests of any tier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from withdraw_service.domain.statuses import WithdrawStatus
from withdraw_service.domain.withdrawal import HistoryEntry, WithdrawState

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def make_state_value(
    workflow_id: str = "WITHDRAW-00000000-0000-0000-0000-000000000001",
    *,
    user_id: str = "user-1001",
    status: WithdrawStatus = WithdrawStatus.INITIATED,
    statuses: list[WithdrawStatus] | None = None,
    amount: Decimal = Decimal("150.00"),
    created_at: datetime = T0,
    **changes: Any,
) -> WithdrawState:
    """A withdrawal whose history walks through `statuses` (default: just `status`)."""
    walk = statuses or [status]
    history = [
        HistoryEntry(status=s, at=created_at + timedelta(seconds=i)) for i, s in enumerate(walk)
    ]
    values: dict[str, Any] = {
        "workflow_id": workflow_id,
        "correlation_id": f"cid-{workflow_id}",
        "user_id": user_id,
        "status": walk[-1],
        "amount": amount,
        "product_number": "PRD-0001",
        "history": history,
        "created_at": created_at,
        "updated_at": history[-1].at,
    }
    values.update(changes)
    return WithdrawState(**values)
