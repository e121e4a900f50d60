"""The one error tree of the service. The API maps each `code` to problem details in one place
(`api/problems.py`); activities raise the external-service subtree so that retry policies can
name them in `nonRetryableErrorTypes`.

    WithdrawError                    code, message, extra
    ├── RequestValidationError       VALIDATION_ERROR
    ├── Unauthenticated              UNAUTHENTICATED
    ├── Forbidden                    FORBIDDEN
    ├── WithdrawalNotFound           NOT_FOUND
    ├── IdempotencyKeyReused         IDEMPOTENCY_KEY_REUSED
    ├── InvalidState                 INVALID_STATE
    ├── OtpInvalid                   OTP_INVALID (attemptsRemaining)
    ├── OtpExpired                   OTP_EXPIRED
    ├── UserInvalid                  USER_INVALID
    ├── WithdrawRestricted           WITHDRAW_RESTRICTED
    ├── InsufficientFunds            INSUFFICIENT_FUNDS
    └── UpstreamUnavailable          UPSTREAM_UNAVAILABLE

Messages never carry an OTP, a token, a secret or a full account number.
"""

from __future__ import annotations

from typing import Any, ClassVar


class WithdrawError(Exception):
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class RequestValidationError(WithdrawError):
    code = "VALIDATION_ERROR"


class Unauthenticated(WithdrawError):
    code = "UNAUTHENTICATED"


class Forbidden(WithdrawError):
    code = "FORBIDDEN"


class WithdrawalNotFound(WithdrawError):
    code = "NOT_FOUND"


class IdempotencyKeyReused(WithdrawError):
    code = "IDEMPOTENCY_KEY_REUSED"


class InvalidState(WithdrawError):
    code = "INVALID_STATE"


class OtpInvalid(WithdrawError):
    code = "OTP_INVALID"


class OtpExpired(WithdrawError):
    code = "OTP_EXPIRED"


class UserInvalid(WithdrawError):
    code = "USER_INVALID"


class WithdrawRestricted(WithdrawError):
    code = "WITHDRAW_RESTRICTED"


class InsufficientFunds(WithdrawError):
    code = "INSUFFICIENT_FUNDS"


class UpstreamUnavailable(WithdrawError):
    code = "UPSTREAM_UNAVAILABLE"
