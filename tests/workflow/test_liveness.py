"""No withdrawal left behind: bookkeeping is retried until it is done (without the history
growing), and a failure nothing expected ends the withdrawal MANUAL_* with an operator task,
never a failed execution that would leave it in flight with its account claimed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError

from tests.support.fake_activities import GOOD_OTP, FakeActivities
from tests.support.workers import fake_worker
from tests.support.workflow_runs import with_policy
from withdraw_service.activities.models import (
    OpenOperatorTaskInput,
    OperatorTaskResult,
    SaveToDbInput,
)
from withdraw_service.domain.outcomes import (
    CompensationStatus,
    FailureCode,
    FailureType,
    TaskKind,
)
from withdraw_service.domain.policies import ActivityName as A
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.workflows.models import OtpSubmission, WithdrawInput
from withdraw_service.workflows.withdraw import WithdrawWorkflow


@dataclass
class OutageFakes(FakeActivities):
    """saveToDb and openOperatorTask fail as a database outage makes them: retryable errors,
    `save_failures` / `task_failures` times, more than their policy's attempts. A task opened
    from the compensation child, or the first one anywhere when `task_refused`, fails in a
    way no retry can change."""

    save_failures: int = 0
    task_failures: int = 0
    task_refused: bool = False
    child_task_refused: bool = False
    attempts: Counter[str] = field(default_factory=Counter)

    @activity.defn(name=A.SAVE_TO_DB)
    async def save_to_db(self, request: SaveToDbInput) -> None:
        self.attempts[A.SAVE_TO_DB] += 1
        if self.attempts[A.SAVE_TO_DB] <= self.save_failures:
            raise ApplicationError("database unavailable")  # retryable
        await super().save_to_db(request)

    @activity.defn(name=A.OPEN_OPERATOR_TASK)
    async def open_operator_task(self, request: OpenOperatorTaskInput) -> OperatorTaskResult:
        self.attempts[A.OPEN_OPERATOR_TASK] += 1
        from_child = activity.info().workflow_id.endswith("-compensation")
        if (self.child_task_refused and from_child) or (
            self.task_refused and self.attempts[A.OPEN_OPERATOR_TASK] == 1
        ):
            raise ApplicationError("refused", non_retryable=True)
        if self.attempts[A.OPEN_OPERATOR_TASK] <= self.task_failures:
            raise ApplicationError("database unavailable")  # retryable
        return await super().open_operator_task(request)


def _quick_retries(request: WithdrawInput) -> WithdrawInput:
    """The same policies with saveToDb retried every few milliseconds: the test server skips
    timers, not the wait between an activity's attempts."""
    return with_policy(
        request,
        A.SAVE_TO_DB,
        initial_interval=timedelta(milliseconds=10),
        maximum_interval=timedelta(milliseconds=50),
    )


async def _run(
    client: Client, task_queue: str, fakes: FakeActivities, request: WithdrawInput
) -> tuple[WithdrawState, WorkflowHandle[WithdrawWorkflow, WithdrawState]]:
    async with fake_worker(client, task_queue, fakes):
        handle = await client.start_workflow(
            WithdrawWorkflow.run, request, id=f"WITHDRAW-{uuid.uuid4()}", task_queue=task_queue
        )
        await handle.execute_update(WithdrawWorkflow.initiate)
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        return await handle.result(), handle


async def _scheduled(handle: WorkflowHandle[WithdrawWorkflow, WithdrawState]) -> Counter[str]:
    """Activities scheduled in the history, by type (retries are not scheduled again)."""
    counts: Counter[str] = Counter()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            counts[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
    return counts


async def _local_saves(handle: WorkflowHandle[WithdrawWorkflow, WithdrawState]) -> int:
    """saveToDb run in the worker, as the history records it (one marker each, failed or not;
    the marker's data, written by the SDK, names the activity)."""
    found = 0
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_local_activity":
            data = json.loads(marker.details["data"].payloads[0].data)
            found += data["activity_type"] == A.SAVE_TO_DB
    return found


async def test_a_long_database_outage_is_waited_out_without_the_history_growing(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """saveToDb fails 12 times running (its policy allows 5 attempts): the withdrawal still
    completes. Each save is tried once in the worker (a marker); the first, failing there, is
    handed to the server as one scheduled activity, however many attempts it takes."""
    fakes = OutageFakes(save_failures=12)
    final, handle = await _run(client, task_queue, fakes, _quick_retries(withdraw_input))
    assert final.status == S.COMPLETED
    assert fakes.attempts[A.SAVE_TO_DB] == len(final.history) + 12
    assert await _local_saves(handle) == len(final.history)
    assert (await _scheduled(handle))[A.SAVE_TO_DB] == 1


async def test_an_operator_task_is_opened_whatever_the_outage(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """The reversal fails, then opening its task fails 7 times: the task is still opened and
    the withdrawal ends MANUAL_COMPENSATION_REQUIRED with it; the execution does not fail."""
    fakes = OutageFakes(
        token_error=FailureType.INVALID_CREDENTIALS,
        rollback_error=FailureType.REVERSAL_REFUSED,
        task_failures=7,
    )
    # openOperatorTask runs with saveToDb's policy: retried quickly here.
    final, _ = await _run(client, task_queue, fakes, _quick_retries(withdraw_input))
    assert final.status == S.MANUAL_COMPENSATION_REQUIRED
    assert final.compensation is not None
    assert final.compensation.task_id == "task-1"
    assert [kind for kind, _ in fakes.tasks] == [TaskKind.COMPENSATION_FAILED]


async def test_a_compensation_that_fails_ends_manual_with_a_task(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """The compensation child itself fails (its own task could not be opened): the parent
    does not fail with it; it opens the task and ends MANUAL_COMPENSATION_REQUIRED."""
    fakes = OutageFakes(
        token_error=FailureType.INVALID_CREDENTIALS,
        rollback_error=FailureType.REVERSAL_REFUSED,
        child_task_refused=True,
    )
    final, _ = await _run(client, task_queue, fakes, withdraw_input)
    assert final.status == S.MANUAL_COMPENSATION_REQUIRED
    assert final.failure_code == FailureCode.DW_TOKEN_FAILED
    assert final.compensation is not None
    assert final.compensation.status == CompensationStatus.FAILED
    assert final.compensation.task_id is not None
    assert [kind for kind, _ in fakes.tasks] == [TaskKind.COMPENSATION_FAILED]


async def test_an_unexpected_failure_ends_manual_review_not_a_failed_execution(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """The transfer stays unknown and its review task is refused outright once (a failure no
    step handles): the withdrawal ends MANUAL_REVIEW_REQUIRED with a task, saved."""
    fakes = OutageFakes(
        finalize_outcomes=[FailureType.TRANSFER_OUTCOME_UNKNOWN],
        verify_statuses=["PENDING"] * 20,
        task_refused=True,
    )
    final, _ = await _run(client, task_queue, fakes, withdraw_input)
    assert final.status == S.MANUAL_REVIEW_REQUIRED
    assert final.failure_code == FailureCode.UNEXPECTED_FAILURE
    assert [kind for kind, _ in fakes.tasks] == [TaskKind.TRANSFER_UNRESOLVED]
    assert fakes.saved[-1].status == S.MANUAL_REVIEW_REQUIRED


async def test_a_timed_out_finalize_is_never_retried_even_under_older_policies(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """A withdrawal started before the policy file listed TransferOutcomeUnknownException
    carries policies without it: the unknown finalize is still looked up at the Transfer
    Checker, not sent again by a retry."""
    request = with_policy(withdraw_input, A.FINALIZE_TRANSFER, non_retryable_error_types=())
    fakes = OutageFakes(
        finalize_outcomes=[FailureType.TRANSFER_OUTCOME_UNKNOWN], verify_statuses=["SUCCESS"]
    )
    final, _ = await _run(client, task_queue, fakes, request)
    assert final.status == S.COMPLETED
    assert fakes.calls.count(A.FINALIZE_TRANSFER) == 1
    assert fakes.calls.count(A.VERIFY_TRANSFER_STATUS) == 1


@dataclass
class SlowSaveFakes(FakeActivities):
    """The first save in the worker takes longer than the 2 s it is given there."""

    slow: list[bool] = field(default_factory=list)  # is_local of each slow attempt

    @activity.defn(name=A.SAVE_TO_DB)
    async def save_to_db(self, request: SaveToDbInput) -> None:
        if not self.slow:
            self.slow.append(activity.info().is_local)
            await asyncio.sleep(3)
        await super().save_to_db(request)


async def test_a_save_too_slow_in_the_worker_is_handed_to_the_server(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    fakes = SlowSaveFakes()
    final, handle = await _run(client, task_queue, fakes, withdraw_input)
    assert final.status == S.COMPLETED
    assert fakes.slow == [True]
    assert await _local_saves(handle) == len(final.history)  # the slow one failed: a marker too
    assert (await _scheduled(handle))[A.SAVE_TO_DB] == 1
    # The one handed over is saved once by the server's attempt.
    assert [s.status for s in fakes.saved] == [e.status for e in final.history]
