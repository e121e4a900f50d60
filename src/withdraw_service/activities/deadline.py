"""Sets each activity attempt's call deadline (`adapters/deadline.py`) from Temporal's own
timeout for the attempt, so that no external call outlives the attempt that made it.

`CALLS` says how many external calls an activity makes one after another at most; start-up
refuses retry policies whose `startToCloseTimeout` leaves less than `MIN_SECONDS_PER_CALL` to
each (`check_policies`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from withdraw_service.adapters.deadline import deadline_after
from withdraw_service.domain.policies import ActivityName, RetryPolicies

A = ActivityName

# Sequential external calls per attempt, at most (token refreshes and retried reads included).
CALLS: dict[ActivityName, int] = {
    A.VALIDATE_USER: 2,  # session, Flex
    A.CHECK_RESTRICTIONS: 4,  # DriveWealth token, cash; after a 401 both again
    A.INITIATE_TRANSFER: 1,
    A.FINALIZE_TRANSFER: 1,
    A.VERIFY_TRANSFER_STATUS: 1,
    A.GET_DW_TOKEN: 1,
    A.CREATE_DW_REDEMPTION: 5,  # user, token, redemption; after a 401 token and redemption
    A.ROLLBACK_TRANSFER: 1,
    A.VERIFY_DW_REDEMPTION: 4,  # token, redemption; after a 401 both again
}
MIN_SECONDS_PER_CALL = 1.0


def margin(timeout: timedelta) -> float:
    """Kept back from the attempt's timeout: time to report the outcome to Temporal."""
    return min(1.0, timeout.total_seconds() / 10)


def check_policies(policies: RetryPolicies) -> None:
    """Refuse timeouts that cannot fit the calls of their activity."""
    for name, calls in CALLS.items():
        timeout = policies.of(name).start_to_close_timeout
        per_call = (timeout.total_seconds() - margin(timeout)) / calls
        if per_call < MIN_SECONDS_PER_CALL:
            raise ValueError(
                f"retry policies: {name}.startToCloseTimeout {timeout.total_seconds():g}s "
                f"cannot fit its {calls} external call(s) of at least {MIN_SECONDS_PER_CALL:g}s"
            )


class CallDeadlineInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _WithDeadline(next)


class _WithDeadline(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        timeout = info.start_to_close_timeout
        if timeout is None:
            return await super().execute_activity(input)
        # Since the server started the attempt, by this machine's clock: capped, so that a
        # worker clock running ahead of the server's cannot leave the calls no time at all.
        elapsed = (datetime.now(UTC) - info.started_time).total_seconds()
        elapsed = min(max(elapsed, 0.0), timeout.total_seconds() / 2)
        with deadline_after(timeout.total_seconds() - elapsed - margin(timeout)):
            return await super().execute_activity(input)
