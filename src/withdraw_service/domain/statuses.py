"""Withdrawal statuses (docs/api.md) and which of them end a withdrawal."""

from __future__ import annotations

from enum import StrEnum


class WithdrawStatus(StrEnum):
    INITIATED = "INITIATED"
    AWAITING_OTP = "AWAITING_OTP"
    FINALIZING_TRANSFER = "FINALIZING_TRANSFER"
    VERIFYING_TRANSFER = "VERIFYING_TRANSFER"
    TRANSFER_COMPLETED = "TRANSFER_COMPLETED"
    CREATING_DW_REDEMPTION = "CREATING_DW_REDEMPTION"
    DW_REDEMPTION_PENDING = "DW_REDEMPTION_PENDING"
    COMPENSATING = "COMPENSATING"

    COMPLETED = "COMPLETED"
    USER_INVALID = "USER_INVALID"
    WITHDRAW_RESTRICTED = "WITHDRAW_RESTRICTED"
    INITIATION_FAILED = "INITIATION_FAILED"
    OTP_TIMEOUT = "OTP_TIMEOUT"
    OTP_REJECTED = "OTP_REJECTED"
    CANCELLED = "CANCELLED"
    TRANSFER_REJECTED = "TRANSFER_REJECTED"
    TRANSFER_FAILED = "TRANSFER_FAILED"
    COMPENSATED = "COMPENSATED"
    MANUAL_COMPENSATION_REQUIRED = "MANUAL_COMPENSATION_REQUIRED"
    MANUAL_REVIEW_REQUIRED = "MANUAL_REVIEW_REQUIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


IN_FLIGHT = frozenset(
    {
        WithdrawStatus.INITIATED,
        WithdrawStatus.AWAITING_OTP,
        WithdrawStatus.FINALIZING_TRANSFER,
        WithdrawStatus.VERIFYING_TRANSFER,
        WithdrawStatus.TRANSFER_COMPLETED,
        WithdrawStatus.CREATING_DW_REDEMPTION,
        WithdrawStatus.DW_REDEMPTION_PENDING,
        WithdrawStatus.COMPENSATING,
    }
)
TERMINAL = frozenset(set(WithdrawStatus) - IN_FLIGHT)

# What finalize answers as the customer's receipt (200): the bank transfer is done and
# DriveWealth took the redemption (settled, or still settling).
RECEIPT = frozenset({WithdrawStatus.COMPLETED, WithdrawStatus.DW_REDEMPTION_PENDING})

# Ended with the money not settled either way: an operator task is open. A later withdrawal of
# the same account is restricted until it is resolved.
UNRESOLVED = frozenset(
    {WithdrawStatus.MANUAL_REVIEW_REQUIRED, WithdrawStatus.MANUAL_COMPENSATION_REQUIRED}
)
