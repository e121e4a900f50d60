"""How the workflow reads a failed activity: run by the server, its error arrives inside an
`ActivityError`; run in the worker (a local activity), as the `ApplicationError` itself, and a
timeout as an `ActivityError` around a `TimeoutError` (live) or the bare `TimeoutError`
(replayed). All must give the same type and message, or a refusal would end the withdrawal as
an outage, or a replay would decide otherwise."""

from __future__ import annotations

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    RetryState,
    TimeoutType,
)
from temporalio.exceptions import (
    TimeoutError as ActivityTimeout,
)

from withdraw_service.domain.outcomes import FailureType
from withdraw_service.workflows.activity_calls import error_message, error_type


def _around(cause: Exception) -> ActivityError:
    err = ActivityError(
        "activity error",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker",
        activity_type="validateUser",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    err.__cause__ = cause
    return err


def _refusal() -> ApplicationError:
    return ApplicationError(
        "customer is blocked", type=FailureType.USER_INVALID, non_retryable=True
    )


def test_a_refusal_reads_the_same_run_by_the_server_or_in_the_worker() -> None:
    for err in (_refusal(), _around(_refusal())):
        assert error_type(err) == FailureType.USER_INVALID
        assert error_message(err) == "customer is blocked"


def _timeout() -> ActivityTimeout:
    return ActivityTimeout(
        "activity timed out", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]
    )


def test_a_timeout_has_no_type_and_says_the_same_live_and_replayed() -> None:
    """Live, inside an ActivityError; replayed from a local activity's marker, bare."""
    for err in (_around(_timeout()), _timeout()):
        assert error_type(err) is None
        assert error_message(err) == "activity timed out"
