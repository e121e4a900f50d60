"""What a client is told when a request is refused: the service's error tree. Each class carries
its `ProblemCode` (`domain/outcomes.py`, which also maps it to an HTTP status); the API renders
it as problem details in one place (`api/problems.py`).

The other two layers have trees of their own: `adapters/upstream.py` (what an external call can
end in) and `activities/failures.py` (what an activity reports to the workflow).

    WithdrawError                    code, message, extra
    ├── RequestValidationError       VALIDATION_ERROR
    ├── Unauthenticated              UNAUTHENTICATED
    ├── Forbidden                    FORBIDDEN
    ├── WithdrawalNotFound           NOT_FOUND
    ├── IdempotencyKeyReused         IDEMPOTENCY_KEY_REUSED
    ├── InvalidState                 INVALID_STATE
    ├── OtpInvalid                   OTP_INVALID (attemptsRemaining)
    ├── OtpExpired                   OTP_EXPIRED
    │   └── OtpAttemptsUsedUp        OTP_EXPIRED (the last attempt was a wrong code)
    ├── UserInvalid                  USER_INVALID
    ├── WithdrawRestricted           WITHDRAW_RESTRICTED
    ├── InsufficientFunds            INSUFFICIENT_FUNDS
    ├── UpstreamUnavailable          UPSTREAM_UNAVAILABLE
    ├── TemporarilyUnavailable       TEMPORARILY_UNAVAILABLE (Retry-After)
    ├── WithdrawalFailed             WITHDRAWAL_FAILED (withdrawal, failureCode)
    └── RateLimited                  RATE_LIMITED (Retry-After)

Messages never carry an OTP, a token, a secret or a full account number.
"""

from __future__ import annotations

from typing import Any, ClassVar

from withdraw_service.domain.outcomes import ProblemCode


class WithdrawError(Exception):
    code: ClassVar[ProblemCode] = ProblemCode.INTERNAL
    replayed = False  # the first answer to a repeated request (an Idempotency-Key), again

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class RequestValidationError(WithdrawError):
    code = ProblemCode.VALIDATION_ERROR


class Unauthenticated(WithdrawError):
    code = ProblemCode.UNAUTHENTICATED


class Forbidden(WithdrawError):
    code = ProblemCode.FORBIDDEN


class WithdrawalNotFound(WithdrawError):
    code = ProblemCode.NOT_FOUND


class IdempotencyKeyReused(WithdrawError):
    code = ProblemCode.IDEMPOTENCY_KEY_REUSED


class InvalidState(WithdrawError):
    code = ProblemCode.INVALID_STATE


class OtpInvalid(WithdrawError):
    code = ProblemCode.OTP_INVALID


class OtpExpired(WithdrawError):
    code = ProblemCode.OTP_EXPIRED


class UserInvalid(WithdrawError):
    code = ProblemCode.USER_INVALID


class WithdrawRestricted(WithdrawError):
    code = ProblemCode.WITHDRAW_RESTRICTED


class InsufficientFunds(WithdrawError):
    code = ProblemCode.INSUFFICIENT_FUNDS


class UpstreamUnavailable(WithdrawError):
    code = ProblemCode.UPSTREAM_UNAVAILABLE


class TemporarilyUnavailable(WithdrawError):
    """The workflow engine or the database did not answer this request in time; the same
    request may be repeated after `retry_after_seconds` (the `Retry-After` header)."""

    code = ProblemCode.TEMPORARILY_UNAVAILABLE
    retry_after_seconds = 2


class WithdrawalFailed(WithdrawError):
    code = ProblemCode.WITHDRAWAL_FAILED


class RateLimited(WithdrawError):
    """An abuse limit (api/limits.py) is reached; `Retry-After` says when it is over."""

    code = ProblemCode.RATE_LIMITED
    retry_after_seconds = 60

    def __init__(self, message: str, retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        if retry_after is not None:
            self.retry_after_seconds = retry_after


class OtpAttemptsUsedUp(OtpExpired):
    """OTP_EXPIRED answered to a code the bank refused as the OTP ended (the last attempt
    spent on it): counted by the abuse limits as a wrong code, where an OTP window that ran
    out before any code was sent is not."""


# Every error of the tree by its code (each code has one class).
BY_CODE: dict[ProblemCode, type[WithdrawError]] = {
    cls.code: cls for cls in WithdrawError.__subclasses__()
}
