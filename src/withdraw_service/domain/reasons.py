"""What a customer is told about a withdrawal that did not complete: one fixed sentence per
failure code. The reason the workflow recorded (an upstream's own words, a reference number,
an exception's name) is for operators only (`/ops/...`, the console); the customer endpoints
show these instead, so nothing an external service says reaches a customer unread.

The status says where the money stands (COMPENSATED: reversed; MANUAL_*: a person decides);
these sentences only say what went wrong, in words a customer can act on.
"""

from __future__ import annotations

from collections.abc import Mapping

from withdraw_service.domain.outcomes import FailureCode as F
from withdraw_service.domain.withdrawal import WithdrawState

CUSTOMER_REASONS: Mapping[F, str] = {
    F.USER_INVALID: "This account cannot make withdrawals. Please contact support.",
    F.WITHDRAW_RESTRICTED: (
        "Another withdrawal from this brokerage account is still open or needs attention."
    ),
    F.INSUFFICIENT_FUNDS: "The brokerage account does not hold enough cash for this amount.",
    F.ACCOUNT_BLOCKED: "This account cannot make withdrawals. Please contact support.",
    F.UPSTREAM_UNAVAILABLE: (
        "A service this withdrawal needs was unavailable. Nothing was debited; try again later."
    ),
    F.CANCELLED: "The withdrawal was cancelled. Nothing was debited.",
    F.OTP_TIMEOUT: "The one-time code was not entered in time. Nothing was debited.",
    F.OTP_REJECTED: "The one-time code was entered wrongly too often. Nothing was debited.",
    F.OTP_EXPIRED: "The one-time code expired. Nothing was debited.",
    F.TRANSFER_FAILED: "The bank could not complete the transfer. Nothing was debited.",
    F.TRANSFER_REJECTED: "The bank declined the transfer. Nothing was debited.",
    F.TRANSFER_UNRESOLVED: (
        "The bank has not confirmed the transfer yet. Our operations team is checking it."
    ),
    F.DW_TOKEN_FAILED: "The brokerage could not be reached to release the cash.",
    F.DW_REDEMPTION_FAILED: "The brokerage declined to release the cash.",
    F.DW_REDEMPTION_UNKNOWN: (
        "The brokerage has not confirmed releasing the cash. Our operations team is checking it."
    ),
    F.DW_SETTLEMENT_OVERDUE: (
        "The brokerage is taking longer than expected to settle. Our operations team is on it."
    ),
    F.UNEXPECTED_FAILURE: (
        "Something unexpected happened. Our operations team is checking where the money stands."
    ),
}


def customer_reason(code: F | None) -> str | None:
    return CUSTOMER_REASONS[code] if code is not None else None


def for_customer(state: WithdrawState) -> WithdrawState:
    """The state as its owner sees it: the fixed reason for its failure code, if any."""
    reason = customer_reason(state.failure_code)
    if reason == state.failure_reason:
        return state
    return state.model_copy(update={"failure_reason": reason})
