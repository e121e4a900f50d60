"""How workflows call activities: typed, with the timeout and retry policy of the activity's own
registered name, and how they read an activity's failure. Deterministic, sandbox-safe.

    result = await run_activity(policies, WithdrawActivities.finalize_transfer, request)
    # result: FinalizeTransferResult; the policy is the file's `finalizeTransfer` entry
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar, overload

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, RetryState

with workflow.unsafe.imports_passed_through():
    from withdraw_service.domain.policies import (
        NEVER_RETRIED,
        ActivityName,
        RetryPolicies,
        RetryPolicySpec,
    )

# maximum_attempts 0: retried until it succeeds, with the policy's backoff (capped by its
# maximumInterval). For bookkeeping that must happen whatever the outage (saveToDb, an operator
# task, a notification): the server retries, so the history does not grow meanwhile.
UNTIL_DONE = 0

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


@overload
async def run_activity(
    policies: RetryPolicies,
    method: Callable[[Any], Awaitable[ResultT]],
    *,
    attempts: int | None = None,
) -> ResultT: ...


@overload
async def run_activity(
    policies: RetryPolicies,
    method: Callable[[Any, ArgT], Awaitable[ResultT]],
    arg: ArgT,
    *,
    attempts: int | None = None,
) -> ResultT: ...


async def run_activity(
    policies: RetryPolicies,
    method: Callable[..., Awaitable[Any]],
    arg: Any = None,
    *,
    attempts: int | None = None,
) -> Any:
    """Run an activity method with the policy configured for its registered name;
    `attempts` overrides the policy's count."""
    args = () if arg is None else (arg,)
    return await workflow.execute_activity_method(
        method, *args, **activity_options(policies, _registered_name(method), attempts)
    )


async def run_local_activity(
    method: Callable[[Any, ArgT], Awaitable[ResultT]], arg: ArgT, *, within: timedelta
) -> ResultT:
    """One attempt of an activity in this worker, inside the current workflow task, bounded by
    `within` (well under the workflow task's timeout). Its result is a marker in the history;
    it raises a `FailureError` when the attempt failed or ran out of time."""
    return await workflow.execute_local_activity_method(
        method,
        arg,
        start_to_close_timeout=within,
        retry_policy=RetryPolicy(maximum_attempts=1),
    )


async def run_local_lookup(
    policies: RetryPolicies, method: Callable[[Any, ArgT], Awaitable[ResultT]], arg: ArgT
) -> ResultT:
    """A short lookup that is safe to run again (a read, an idempotent claim) in this worker,
    with the timeout and retry policy of its registered name: no round trip through the
    server, its result a marker in the history. Its failure: see `Progress.lookup`."""
    return await workflow.execute_local_activity_method(
        method, arg, **activity_options(policies, _registered_name(method), None)
    )


def _registered_name(method: Callable[..., Awaitable[Any]]) -> str:
    name = activity._Definition.must_from_callable(method).name
    assert name is not None, "activities here are never dynamic"
    return name


async def run_activity_by_name(policies: RetryPolicies, name: ActivityName, arg: Any) -> Any:
    """Untyped, by name: only for replaying old branches whose result type has changed since."""
    return await workflow.execute_activity(
        name.value, args=(arg,), **activity_options(policies, name, None)
    )


def activity_options(policies: RetryPolicies, name: str, attempts: int | None) -> dict[str, Any]:
    policy = policies.of(name)
    retry = retry_policy(policy.retry_policy)
    if attempts is not None:
        retry.maximum_attempts = attempts
    listed = list(retry.non_retryable_error_types or ())
    final = NEVER_RETRIED.get(ActivityName(name), frozenset())
    retry.non_retryable_error_types = [*listed, *sorted(final - set(listed))]
    return {"start_to_close_timeout": policy.start_to_close_timeout, "retry_policy": retry}


def retry_policy(spec: RetryPolicySpec) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=spec.initial_interval,
        backoff_coefficient=spec.backoff_coefficient,
        maximum_interval=spec.maximum_interval,
        maximum_attempts=spec.maximum_attempts,
        non_retryable_error_types=list(spec.non_retryable_error_types),
    )


async def wait_until(condition: Callable[[], bool], within: timedelta) -> bool:
    """True when the condition came true, False when `within` passed first."""
    try:
        await workflow.wait_condition(condition, timeout=within)
    except TimeoutError:
        return False
    return True


def _application_error(err: FailureError) -> ApplicationError | None:
    """The activity's own error: a local activity's failure is it, a server-run one's holds it."""
    if isinstance(err, ApplicationError):
        return err
    cause = err.cause if isinstance(err, ActivityError) else None
    return cause if isinstance(cause, ApplicationError) else None


def error_type(err: FailureError) -> str | None:
    """The type of a failed activity's `ApplicationError`, run by the server or in the worker.
    A local activity's failure reaches the workflow as that `ApplicationError` itself; a
    timeout as an `ActivityError` around a `TimeoutError` live, but as the bare `TimeoutError`
    when replayed from its marker."""
    application = _application_error(err)
    return application.type if application else None


def error_message(err: FailureError) -> str:
    """The activity's own words: its `ApplicationError`'s message, else what failed (a timeout
    says the same live, inside an `ActivityError`, and replayed, bare)."""
    application = _application_error(err)
    if application is not None:
        return str(application.message)
    return str(err.cause or err) if isinstance(err, ActivityError) else str(err)


def failure_kind(err: FailureError) -> str:
    """What failed, by type only (never the message: an upstream's text may hold anything)."""
    application = _application_error(err)
    if application is not None:
        return application.type or "ApplicationError"
    if isinstance(err, ActivityError):
        return type(err.cause).__name__
    return type(err).__name__


def attempt_said(err: ActivityError) -> int | None:
    """The attempt a failed activity says (in its error's details) it failed on, if it
    says one."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details:
        first = cause.details[0]
        if isinstance(first, dict) and isinstance(first.get("attempt"), int):
            return int(first["attempt"])
    return None


def attempts_made(err: ActivityError, maximum: int) -> int:
    """How often a failed activity ran: what it said in its error's details, else the
    policy's maximum when that is why it stopped, else once (refused outright)."""
    said = attempt_said(err)
    if said is not None:
        return said
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return maximum
    return 1
