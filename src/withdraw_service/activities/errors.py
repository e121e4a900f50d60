"""Error types activities raise to the workflow. Their names are the ones the retry-policy YAML
lists under `nonRetryableErrorTypes` (the seed's exception names), so policy and code agree.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

USER_INVALID = "UserInvalidException"
WITHDRAW_RESTRICTED = "WithdrawRestrictedException"
INSUFFICIENT_FUNDS = "InsufficientFundsException"
ACCOUNT_BLOCKED = "AccountBlockedException"
INVALID_CREDENTIALS = "InvalidCredentialsException"
INSUFFICIENT_BALANCE = "InsufficientBalanceException"
ACCOUNT_SUSPENDED = "AccountSuspendedException"
DW_UNAUTHORIZED = "DwUnauthorizedException"
TRANSFER_OUTCOME_UNKNOWN = "TransferOutcomeUnknownException"
UPSTREAM_REFUSED = "UpstreamRefusedException"
# Retryable: the call may have been applied. Retried with the same idempotency key it is safe;
# when the retries run out on it, the workflow must not assume nothing happened.
DW_OUTCOME_UNKNOWN = "DwOutcomeUnknownException"
ACCOUNT_LOOKUP = "AccountLookupException"


def business_error(error_type: str, message: str, *details: object) -> ApplicationError:
    """A refusal that no retry can change: the workflow decides what it means."""
    return ApplicationError(message, *details, type=error_type, non_retryable=True)


def current_attempt() -> int:
    return activity.info().attempt if activity.in_activity() else 1
