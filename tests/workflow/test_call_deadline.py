"""The worker gives every activity attempt its call deadline: what is left of the attempt's
startToCloseTimeout, less the margin kept to report the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import Client

from tests.support.fake_activities import FakeActivities
from tests.support.workflow_runs import withdrawal
from withdraw_service.activities.models import UserContext, ValidateUserInput
from withdraw_service.adapters.deadline import seconds_left
from withdraw_service.domain.policies import ActivityName as A
from withdraw_service.workflows.models import WithdrawInput


@dataclass
class DeadlineFakes(FakeActivities):
    seen: list[float | None] = field(default_factory=list)

    @activity.defn(name=A.VALIDATE_USER)
    async def validate_user(self, request: ValidateUserInput) -> UserContext:
        self.seen.append(seconds_left())
        return await super().validate_user(request)


async def test_an_activity_attempt_sets_the_deadline_of_its_calls(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    fakes = DeadlineFakes()
    async with withdrawal(client, task_queue, fakes, withdraw_input):
        pass
    timeout = withdraw_input.policies.of(A.VALIDATE_USER).start_to_close_timeout.total_seconds()
    [left] = fakes.seen
    assert left is not None, "no deadline: the worker has no CallDeadlineInterceptor"
    # The whole timeout less the 1 s margin, less the moments since the attempt started.
    assert timeout - 3 < left <= timeout - 1
