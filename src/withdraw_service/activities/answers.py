"""What an external service's answer means to an activity: a result, or a typed failure
(`activities/failures.py`) that the workflow reads. The activities make the calls; this module
only reads what came back, so that each rule of CONTRACT section 5 is written once.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from withdraw_service.activities.failures import failure
from withdraw_service.activities.models import DwRedemptionResult, FinalizeTransferResult
from withdraw_service.adapters.ports import DwRedemption
from withdraw_service.adapters.upstream import (
    ExternalServiceError,
    UpstreamRefused,
    UpstreamUnauthorized,
    UpstreamUnknownOutcome,
)
from withdraw_service.domain.outcomes import (
    DW_ACCEPTED,
    DW_SETTLED_UNPAID,
    DwRedemptionStatus,
    FailureType,
    FinalizeOutcome,
    UpstreamCode,
)


class NotSent(Exception):
    """The redemption request never left: nothing can have been redeemed by this attempt."""


def redemption_result(redemption: DwRedemption) -> DwRedemptionResult:
    return DwRedemptionResult(
        redemption_id=redemption.redemption_id,
        status_id=redemption.status_id,
        status_message=redemption.status_message,
    )


def redemption_failure(
    exc: NotSent | ExternalServiceError, attempt: dict[str, int]
) -> ApplicationError:
    """A redemption attempt that got no redemption: not sent, DriveWealth's own refusal, or
    unknown (anything else). `attempt` travels in the failure's details."""
    if isinstance(exc, UpstreamUnauthorized):
        return failure(FailureType.DW_NOT_SENT, "DriveWealth refused a fresh token (401)", attempt)
    if isinstance(exc, NotSent):
        return failure(FailureType.DW_NOT_SENT, str(exc), attempt)
    if isinstance(exc, UpstreamRefused) and exc.error_code == UpstreamCode.DW_AMOUNT_ABOVE_CASH:
        return failure(
            FailureType.INSUFFICIENT_BALANCE, f"redemption refused: {exc.error_code}", attempt
        )
    if isinstance(exc, UpstreamRefused):
        # Not a refusal DriveWealth is known to mean: it says nothing of the money.
        return failure(
            FailureType.DW_OUTCOME_UNKNOWN,
            f"redemption answered {exc.error_code}; outcome unknown",
            attempt,
        )
    detail = exc.detail if isinstance(exc, UpstreamUnknownOutcome) else type(exc).__name__
    return failure(
        FailureType.DW_OUTCOME_UNKNOWN, f"redemption outcome unknown ({detail})", attempt
    )


def accepted_redemption(result: DwRedemptionResult, attempt: dict[str, int]) -> DwRedemptionResult:
    """The redemption DriveWealth answered, if it took it; its own "no" (FAILED/REJECTED) is a
    refusal; a status it does not document is an unknown outcome (a redemption exists)."""
    if result.status_id in DW_SETTLED_UNPAID:
        raise failure(FailureType.ACCOUNT_SUSPENDED, f"redemption {result.status_message}", attempt)
    if result.status_id not in DW_ACCEPTED:
        raise failure(
            FailureType.DW_OUTCOME_UNKNOWN,
            f"redemption answered status {result.status_id}; outcome unknown",
            attempt,
        )
    return result


def settled_redemption(result: DwRedemptionResult) -> DwRedemptionResult:
    """The redemption once settled (SUCCESSFUL, FAILED or REJECTED); not settled yet, or in a
    status nobody documents, is never read as settled either way: DW_REDEMPTION_PENDING,
    benign (an expected wait, not an error to log or to count as a failing activity)."""
    if result.status_id == DwRedemptionStatus.SUCCESSFUL or result.status_id in (DW_SETTLED_UNPAID):
        return result
    raise ApplicationError(
        f"redemption not settled yet: {result.status_message or result.status_id}",
        type=FailureType.DW_REDEMPTION_PENDING,
        category=ApplicationErrorCategory.BENIGN,
    )


def refused_finalize(exc: UpstreamRefused) -> FinalizeTransferResult:
    """The bank's own refusal of an OTP confirmation, as finalizeTransfer's result."""
    if exc.error_code == UpstreamCode.OTP_INVALID:
        return FinalizeTransferResult(
            outcome=FinalizeOutcome.OTP_INVALID, attempts_remaining=exc.attempts_remaining
        )
    if exc.error_code == UpstreamCode.AUTHORISATION_EXPIRED:
        return FinalizeTransferResult(outcome=FinalizeOutcome.AUTHORISATION_EXPIRED)
    return FinalizeTransferResult(outcome=FinalizeOutcome.REJECTED, reason=exc.error_code)
