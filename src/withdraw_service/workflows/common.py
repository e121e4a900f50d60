"""Workflow-side helpers shared by the withdraw and compensation workflows: activity options
from the retry-policy file, and reading activity failures. Deterministic, sandbox-safe.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from withdraw_service.domain.policies import RetryPolicies, RetryPolicySpec

# Activities that the seed's file does not name run with the policy of the step named here.
POLICY_OF = {
    "openOperatorTask": "saveToDb",
    "notifyCustomer": "saveToDb",
    "markCompensated": "saveToDb",
}


async def run_activity(
    policies: RetryPolicies,
    name: str,
    activity: Any,
    arg: Any = None,
    *,
    attempts: int | None = None,
) -> Any:
    """Run an activity (a method reference, or its name for untyped legacy calls) with the
    timeout and retry policy configured for `name`; `attempts` overrides the policy's count."""
    policy = policies.of(POLICY_OF.get(name, name))
    retry = retry_policy(policy.retry_policy)
    if attempts is not None:
        retry.maximum_attempts = attempts
    options: dict[str, Any] = {
        "start_to_close_timeout": policy.start_to_close_timeout,
        "retry_policy": retry,
    }
    args = () if arg is None else (arg,)
    if isinstance(activity, str):
        return await workflow.execute_activity(activity, args=args, **options)
    return await workflow.execute_activity_method(activity, *args, **options)


def retry_policy(spec: RetryPolicySpec) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=spec.initial_interval,
        backoff_coefficient=spec.backoff_coefficient,
        maximum_interval=spec.maximum_interval,
        maximum_attempts=spec.maximum_attempts,
        non_retryable_error_types=list(spec.non_retryable_error_types),
    )


async def wait_until(condition: Any, within: timedelta) -> bool:
    """True when the condition came true, False when `within` passed first."""
    try:
        await workflow.wait_condition(condition, timeout=within)
    except TimeoutError:
        return False
    return True


def error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def error_message(err: ActivityError) -> str:
    cause = err.cause
    return str(cause.message if isinstance(cause, ApplicationError) else cause or err)


def attempts_made(err: ActivityError, maximum: int) -> int:
    """How often a failed activity ran: what it said in its error's details, else the
    policy's maximum when that is why it stopped, else once (refused outright)."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details:
        first = cause.details[0]
        if isinstance(first, dict) and isinstance(first.get("attempt"), int):
            return int(first["attempt"])
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return maximum
    return 1
