"""How an activity tells the workflow it did not produce its result: an `ApplicationError` whose
`type` is a `FailureType` (`domain/outcomes.py`).

    ApplicationError(type=FailureType.X)    raised by `failure(...)`
        retried, or not, as the retry-policy file's `nonRetryableErrorTypes` says for the
        activity that raised it: that file is the one place retryability is decided. The
        workflow reads the type (once the retries are over) through the outcome tables.

Any other exception (a crash, an upstream outage) is retried per policy too, and reads as
"not a refusal" to the workflow. Messages never carry an OTP, a token or an account number.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from withdraw_service.domain.outcomes import FailureType


def failure(failure_type: FailureType, message: str, *details: object) -> ApplicationError:
    """A failure of the given type; whether it is retried is the policy file's decision."""
    return ApplicationError(message, *details, type=failure_type.value)


def current_attempt() -> int:
    return activity.info().attempt if activity.in_activity() else 1
