"""The service's vocabulary of outcomes, and the pure tables that map one word to another.

Every failure code, operator task kind and state, compensation status, Transfer Checker status,
DriveWealth redemption status, OTP verdict, activity failure type and API problem code is a
member of an enum here; no other module spells one of their values as a string
(`tests/unit/test_vocabulary.py` fails when one reappears). The tables answer:

    activity failure type  ->  (terminal status, failure code)      INITIATION_REFUSALS
    finalize outcome       ->  (terminal status, failure code)      FINALIZE_ENDINGS
    failure code           ->  problem code at initiation           INITIATION_PROBLEMS
    problem code           ->  HTTP status                          HTTP_STATUS
    terminal status        ->  does finalize answer WITHDRAWAL_FAILED  FAILED_AFTER_OTP

Pure: no I/O, no framework; safe inside the workflow sandbox.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from withdraw_service.domain.statuses import WithdrawStatus

S = WithdrawStatus


class FailureCode(StrEnum):
    """Why a withdrawal ended other than COMPLETED (`failureCode` of its state)."""

    USER_INVALID = "USER_INVALID"
    WITHDRAW_RESTRICTED = "WITHDRAW_RESTRICTED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    ACCOUNT_BLOCKED = "ACCOUNT_BLOCKED"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    CANCELLED = "CANCELLED"
    OTP_TIMEOUT = "OTP_TIMEOUT"
    OTP_REJECTED = "OTP_REJECTED"
    OTP_EXPIRED = "OTP_EXPIRED"
    TRANSFER_FAILED = "TRANSFER_FAILED"
    TRANSFER_REJECTED = "TRANSFER_REJECTED"
    TRANSFER_UNRESOLVED = "TRANSFER_UNRESOLVED"
    DW_TOKEN_FAILED = "DW_TOKEN_FAILED"
    DW_REDEMPTION_FAILED = "DW_REDEMPTION_FAILED"
    DW_REDEMPTION_UNKNOWN = "DW_REDEMPTION_UNKNOWN"
    DW_SETTLEMENT_OVERDUE = "DW_SETTLEMENT_OVERDUE"
    UNEXPECTED_FAILURE = "UNEXPECTED_FAILURE"  # a person reviews where the money stands


class TaskKind(StrEnum):
    """What an operator task asks a person to settle."""

    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    TRANSFER_UNRESOLVED = "TRANSFER_UNRESOLVED"
    DW_SETTLEMENT_OVERDUE = "DW_SETTLEMENT_OVERDUE"
    RECONCILIATION_MISMATCH = "RECONCILIATION_MISMATCH"


class MismatchKind(StrEnum):
    """What reconciliation found the bank or DriveWealth to disagree with our records about
    (each opens a RECONCILIATION_MISMATCH task)."""

    # The bank debited (and did not reverse) a withdrawal that has no redemption standing and
    # did not complete: the customer holds the amount twice.
    TRANSFER_WITHOUT_REDEMPTION = "TRANSFER_WITHOUT_REDEMPTION"
    # DriveWealth holds a redemption (settled or not) for a withdrawal whose bank transfer is
    # not debited (or was reversed), or that our records do not know at all.
    REDEMPTION_WITHOUT_TRANSFER = "REDEMPTION_WITHOUT_TRANSFER"
    # COMPLETED, but its redemption is not SUCCESSFUL at DriveWealth.
    REDEMPTION_NOT_SETTLED = "REDEMPTION_NOT_SETTLED"
    # The bank reversed the transfer of a withdrawal that did not end COMPENSATED.
    REVERSAL_NOT_COMPENSATED = "REVERSAL_NOT_COMPENSATED"


class TaskState(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"


class CompensationStatus(StrEnum):
    """`compensation.status` of a withdrawal's state."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    NOT_ATTEMPTED = "NOT_ATTEMPTED"  # the redemption's outcome is unknown: nothing reversed


class CheckerStatus(StrEnum):
    """A bank transfer's status, as the Transfer Checker (and the bank's ledger) reports it."""

    INITIATED = "INITIATED"
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    REVERSED = "REVERSED"


class DwRedemptionStatus(IntEnum):
    """DriveWealth's redemption status ids, named as DriveWealth names them."""

    STARTED = 0
    PENDING = 1
    SUCCESSFUL = 2
    FAILED = 3
    APPROVED = 14
    REJECTED = 15
    ON_HOLD = 16


# DriveWealth settled the redemption without paying it out: the cash stayed in the account.
DW_SETTLED_UNPAID = frozenset({DwRedemptionStatus.FAILED, DwRedemptionStatus.REJECTED})

# DriveWealth took the redemption and carries it on: it exists, money may leave the account.
DW_ACCEPTED = frozenset(
    {
        DwRedemptionStatus.STARTED,
        DwRedemptionStatus.PENDING,
        DwRedemptionStatus.SUCCESSFUL,
        DwRedemptionStatus.APPROVED,
        DwRedemptionStatus.ON_HOLD,
    }
)


class UpstreamCode(StrEnum):
    """Error codes the external services answer that this service acts on."""

    OTP_INVALID = "OTP_INVALID"
    AUTHORISATION_EXPIRED = "AUTHORISATION_EXPIRED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    ACCOUNT_BLOCKED = "ACCOUNT_BLOCKED"
    TRANSFER_REJECTED = "TRANSFER_REJECTED"
    # The bank: the transfer no longer awaits its OTP. Not a refusal: it says nothing of
    # whether it was debited (another confirmation may be going through): looked up.
    TRANSFER_NOT_PENDING = "TRANSFER_NOT_PENDING"
    DW_AMOUNT_ABOVE_CASH = "Y075"  # DriveWealth: amount above the cash available


# The bank's own refusals of a finalize: any other 4xx code says nothing of what happened.
FINALIZE_REFUSALS = frozenset(
    {
        UpstreamCode.OTP_INVALID,
        UpstreamCode.AUTHORISATION_EXPIRED,
        UpstreamCode.TRANSFER_REJECTED,
        UpstreamCode.INSUFFICIENT_FUNDS,
        UpstreamCode.ACCOUNT_BLOCKED,
    }
)
# The Transfer Service's own refusals of an initiation.
INITIATE_REFUSALS = frozenset({UpstreamCode.INSUFFICIENT_FUNDS, UpstreamCode.ACCOUNT_BLOCKED})


class FinalizeOutcome(StrEnum):
    """What the bank answered to the OTP confirmation (finalizeTransfer's result)."""

    SUCCESS = "SUCCESS"
    OTP_INVALID = "OTP_INVALID"
    AUTHORISATION_EXPIRED = "AUTHORISATION_EXPIRED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


class OtpVerdict(StrEnum):
    """The workflow's answer to one submitted OTP."""

    ACCEPTED = "ACCEPTED"
    INVALID = "INVALID"
    EXPIRED = "EXPIRED"


class FailureType(StrEnum):
    """`ApplicationError.type` of every failure an activity raises: the names the retry-policy
    file lists under `nonRetryableErrorTypes` (the seed's exception names where it has one).
    Whether a type is retried is decided by that file alone."""

    USER_INVALID = "UserInvalidException"
    WITHDRAW_RESTRICTED = "WithdrawRestrictedException"
    INSUFFICIENT_FUNDS = "InsufficientFundsException"
    ACCOUNT_BLOCKED = "AccountBlockedException"
    INVALID_CREDENTIALS = "InvalidCredentialsException"
    INSUFFICIENT_BALANCE = "InsufficientBalanceException"
    ACCOUNT_SUSPENDED = "AccountSuspendedException"
    TRANSFER_OUTCOME_UNKNOWN = "TransferOutcomeUnknownException"
    REVERSAL_REFUSED = "ReversalRefusedException"
    # The call may have been applied: retried with the same key it is safe; when the retries
    # run out on it, the workflow must not assume nothing happened.
    DW_OUTCOME_UNKNOWN = "DwOutcomeUnknownException"
    ACCOUNT_LOOKUP = "AccountLookupException"  # the customer's account could not be read
    ACCOUNT_CHANGED = "AccountChangedException"  # it changed during the withdrawal
    # Our own database could not be reached (an outage, a fail-over): infrastructure, never a
    # refusal. Retried per policy, then the workflow waits for the database and asks again.
    DATABASE_UNAVAILABLE = "DatabaseUnavailableException"
    # The redemption request provably never reached DriveWealth (no token could be had, the
    # connection was refused, 401 before it was read): nothing can have been redeemed.
    DW_NOT_SENT = "DwRedemptionNotSentException"
    # DriveWealth has not settled the redemption yet: looked up again after the interval.
    DW_REDEMPTION_PENDING = "DwRedemptionPendingException"


# The seed's exception names that are not failures here: the bank's answer to an OTP is a
# result of finalizeTransfer (FinalizeOutcome), which the workflow reads without a retry.
SEED_ANSWERS = {
    "OtpInvalidException": FinalizeOutcome.OTP_INVALID,
    "AuthorizationExpiredException": FinalizeOutcome.AUTHORISATION_EXPIRED,
}

# DriveWealth itself refused this Idempotency-Key (it would have answered an earlier success
# for the same key instead): nothing was redeemed, so reversing the bank transfer is safe.
DW_REFUSALS = frozenset({FailureType.INSUFFICIENT_BALANCE, FailureType.ACCOUNT_SUSPENDED})


class ProblemCode(StrEnum):
    """`code` of every problem-details answer."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    USER_INVALID = "USER_INVALID"
    WITHDRAW_RESTRICTED = "WITHDRAW_RESTRICTED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    OTP_INVALID = "OTP_INVALID"
    OTP_EXPIRED = "OTP_EXPIRED"
    INVALID_STATE = "INVALID_STATE"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
    WITHDRAWAL_FAILED = "WITHDRAWAL_FAILED"
    RATE_LIMITED = "RATE_LIMITED"
    # Not client-caused; answered by the framework's edges.
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    CODEC_ERROR = "CODEC_ERROR"
    HTTP_ERROR = "HTTP_ERROR"
    INTERNAL = "INTERNAL"


HTTP_STATUS: dict[ProblemCode, int] = {
    ProblemCode.VALIDATION_ERROR: 422,
    ProblemCode.UNAUTHENTICATED: 401,
    ProblemCode.FORBIDDEN: 403,
    ProblemCode.NOT_FOUND: 404,
    ProblemCode.USER_INVALID: 403,
    ProblemCode.WITHDRAW_RESTRICTED: 409,
    ProblemCode.INSUFFICIENT_FUNDS: 422,
    ProblemCode.IDEMPOTENCY_KEY_REUSED: 422,
    ProblemCode.OTP_INVALID: 422,
    ProblemCode.OTP_EXPIRED: 410,
    ProblemCode.INVALID_STATE: 409,
    ProblemCode.UPSTREAM_UNAVAILABLE: 503,
    ProblemCode.TEMPORARILY_UNAVAILABLE: 503,
    ProblemCode.WITHDRAWAL_FAILED: 422,
    ProblemCode.RATE_LIMITED: 429,
    ProblemCode.METHOD_NOT_ALLOWED: 405,
    ProblemCode.PAYLOAD_TOO_LARGE: 413,
    ProblemCode.CODEC_ERROR: 422,
    ProblemCode.HTTP_ERROR: 400,
    ProblemCode.INTERNAL: 500,
}

# Refusals before the OTP is sent: the failure type an initiation activity raised, and how the
# withdrawal ends. A failure type not listed (a crash, an outage past its retries) ends it
# INITIATION_FAILED / UPSTREAM_UNAVAILABLE.
INITIATION_REFUSALS: dict[FailureType, tuple[WithdrawStatus, FailureCode]] = {
    FailureType.USER_INVALID: (S.USER_INVALID, FailureCode.USER_INVALID),
    FailureType.WITHDRAW_RESTRICTED: (S.WITHDRAW_RESTRICTED, FailureCode.WITHDRAW_RESTRICTED),
    FailureType.INSUFFICIENT_FUNDS: (S.INITIATION_FAILED, FailureCode.INSUFFICIENT_FUNDS),
    FailureType.ACCOUNT_BLOCKED: (S.INITIATION_FAILED, FailureCode.ACCOUNT_BLOCKED),
}
INITIATION_UNAVAILABLE = (S.INITIATION_FAILED, FailureCode.UPSTREAM_UNAVAILABLE)


def initiation_ending(failure_type: str | None) -> tuple[WithdrawStatus, FailureCode]:
    """How a failed validateUser / checkRestrictions / initiateTransfer ends the withdrawal."""
    try:
        return INITIATION_REFUSALS.get(FailureType(failure_type or ""), INITIATION_UNAVAILABLE)
    except ValueError:
        return INITIATION_UNAVAILABLE


# The bank's answer to the OTP confirmation, when it ends the withdrawal.
FINALIZE_ENDINGS: dict[FinalizeOutcome, tuple[WithdrawStatus, FailureCode]] = {
    FinalizeOutcome.OTP_INVALID: (S.OTP_REJECTED, FailureCode.OTP_REJECTED),
    FinalizeOutcome.AUTHORISATION_EXPIRED: (S.OTP_REJECTED, FailureCode.OTP_EXPIRED),
    FinalizeOutcome.FAILED: (S.TRANSFER_FAILED, FailureCode.TRANSFER_FAILED),
    FinalizeOutcome.REJECTED: (S.TRANSFER_REJECTED, FailureCode.TRANSFER_REJECTED),
}

# An initiation that ended before the OTP was sent answers its failure code's problem.
INITIATION_PROBLEMS: dict[FailureCode, ProblemCode] = {
    FailureCode.USER_INVALID: ProblemCode.USER_INVALID,
    FailureCode.ACCOUNT_BLOCKED: ProblemCode.USER_INVALID,
    FailureCode.WITHDRAW_RESTRICTED: ProblemCode.WITHDRAW_RESTRICTED,
    FailureCode.INSUFFICIENT_FUNDS: ProblemCode.INSUFFICIENT_FUNDS,
    FailureCode.UPSTREAM_UNAVAILABLE: ProblemCode.UPSTREAM_UNAVAILABLE,
}
REFUSED_AT_INITIATION = frozenset({S.USER_INVALID, S.WITHDRAW_RESTRICTED, S.INITIATION_FAILED})


def initiation_problem(failure_code: str | None) -> ProblemCode:
    try:
        return INITIATION_PROBLEMS.get(
            FailureCode(failure_code or ""), ProblemCode.UPSTREAM_UNAVAILABLE
        )
    except ValueError:
        return ProblemCode.UPSTREAM_UNAVAILABLE


# Finalize answers 422 WITHDRAWAL_FAILED when the OTP was accepted but the withdrawal ended
# without money moving.
FAILED_AFTER_OTP = frozenset({S.TRANSFER_REJECTED, S.TRANSFER_FAILED, S.COMPENSATED})

# Ends whose OTP window is what closed them: a late OTP gets 410, not 409.
OTP_WINDOW_ENDINGS = frozenset({S.OTP_TIMEOUT, S.OTP_REJECTED})


class NotificationKind(StrEnum):
    """What a customer is told about, besides the API's answers."""

    WITHDRAW_COMPENSATED = "WITHDRAW_COMPENSATED"


# The codes a client of the withdraw API can meet (the others come from the framework's edges).
CLIENT_CODES = frozenset(HTTP_STATUS) - {
    ProblemCode.METHOD_NOT_ALLOWED,
    ProblemCode.PAYLOAD_TOO_LARGE,
    ProblemCode.CODEC_ERROR,
    ProblemCode.HTTP_ERROR,
    ProblemCode.INTERNAL,
}
