"""Initiation branches of WithdrawWorkflow (validateUser, checkRestrictions, initiateTransfer):
each refusal ends the withdrawal before anything is debited, and the `initiate` update (the
API's update-with-start) answers with that terminal state.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.support.fake_activities import FakeActivities
from tests.support.workers import fake_worker
from tests.support.workflow_asserts import assert_every_transition_saved, statuses
from tests.support.workflow_runs import with_policy, withdrawal
from withdraw_service.bootstrap import WORKFLOWS
from withdraw_service.domain.outcomes import FailureCode, FailureType
from withdraw_service.domain.policies import ActivityName as A
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.workflows.models import WITHDRAW_STATUS, WithdrawInput
from withdraw_service.workflows.withdraw import WithdrawWorkflow

UPSTREAM_DOWN = "UpstreamUnavailableError"  # any type the workflow does not know by name


async def initiate_and_finish(
    client: Client, task_queue: str, fakes: FakeActivities, request: WithdrawInput
) -> tuple[WithdrawState, WithdrawState, WorkflowHandle[WithdrawWorkflow, WithdrawState]]:
    """Start as the API does (update-with-start `initiate`); return its answer, the result."""
    async with fake_worker(client, task_queue, fakes):
        start = WithStartWorkflowOperation(
            WithdrawWorkflow.run,
            request,
            id=f"WITHDRAW-{uuid.uuid4()}",
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        initiated = await client.execute_update_with_start_workflow(
            WithdrawWorkflow.initiate, start_workflow_operation=start
        )
        handle = await start.workflow_handle()
        final = await handle.result()
    return initiated, final, handle


def assert_nothing_debited(fakes: FakeActivities) -> None:
    for step in (
        A.FINALIZE_TRANSFER,
        A.GET_DW_TOKEN,
        A.CREATE_DW_REDEMPTION,
        A.ROLLBACK_TRANSFER,
    ):
        assert step not in fakes.calls


async def test_validate_user_refused_ends_user_invalid(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """validateUser raises UserInvalidException -> USER_INVALID, answered by `initiate`."""
    fakes = FakeActivities(user_error=FailureType.USER_INVALID)
    initiated, final, handle = await initiate_and_finish(client, task_queue, fakes, withdraw_input)

    assert initiated.status == S.USER_INVALID
    assert initiated.failure_code == FailureCode.USER_INVALID
    assert final.status == S.USER_INVALID
    assert final.failure_code == FailureCode.USER_INVALID
    assert final.failure_reason == f"scripted {FailureType.USER_INVALID}"
    assert statuses(final) == [S.INITIATED, S.USER_INVALID]
    assert fakes.calls == [A.VALIDATE_USER]
    assert fakes.keys == []
    assert_every_transition_saved(fakes, final)
    description = await handle.describe()
    assert description.typed_search_attributes.get(WITHDRAW_STATUS) == S.USER_INVALID


async def test_validate_user_other_error_ends_initiation_failed_upstream_unavailable(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """validateUser fails with any other error type -> INITIATION_FAILED/UPSTREAM_UNAVAILABLE."""
    fakes = FakeActivities(user_error=UPSTREAM_DOWN)
    initiated, final, _ = await initiate_and_finish(client, task_queue, fakes, withdraw_input)

    assert initiated.status == S.INITIATION_FAILED
    assert final.status == S.INITIATION_FAILED
    assert final.failure_code == FailureCode.UPSTREAM_UNAVAILABLE
    assert statuses(final) == [S.INITIATED, S.INITIATION_FAILED]
    assert fakes.calls == [A.VALIDATE_USER]
    assert_every_transition_saved(fakes, final)


async def test_validate_user_timing_out_ends_initiation_failed_and_replays(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """validateUser (run in the worker) outlives its timeout on every attempt ->
    INITIATION_FAILED/UPSTREAM_UNAVAILABLE. Its failure reaches the workflow in one shape live
    and in another when replayed from its marker: the history must replay all the same."""
    fakes = FakeActivities(user_delay=1.0)
    # A timeout reached in milliseconds: a local activity's wait is real time, never skipped.
    request = with_policy(
        withdraw_input,
        A.VALIDATE_USER,
        start_to_close=timedelta(milliseconds=200),
        maximum_attempts=2,
    )
    initiated, final, handle = await initiate_and_finish(client, task_queue, fakes, request)

    assert final.status == initiated.status == S.INITIATION_FAILED
    assert final.failure_code == FailureCode.UPSTREAM_UNAVAILABLE
    assert fakes.calls == [A.VALIDATE_USER, A.VALIDATE_USER]
    assert_every_transition_saved(fakes, final)
    replayed = await Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter
    ).replay_workflow(await handle.fetch_history(), raise_on_replay_failure=False)
    assert replayed.replay_failure is None


@pytest.mark.parametrize(
    ("error_type", "status", "code"),
    [
        (FailureType.WITHDRAW_RESTRICTED, S.WITHDRAW_RESTRICTED, FailureCode.WITHDRAW_RESTRICTED),
        (FailureType.INSUFFICIENT_FUNDS, S.INITIATION_FAILED, FailureCode.INSUFFICIENT_FUNDS),
        (UPSTREAM_DOWN, S.INITIATION_FAILED, FailureCode.UPSTREAM_UNAVAILABLE),
    ],
    ids=["restricted", "insufficient-funds", "other-error"],
)
async def test_check_restrictions_refused_ends_before_the_transfer(
    client: Client,
    task_queue: str,
    withdraw_input: WithdrawInput,
    error_type: str,
    status: S,
    code: FailureCode,
) -> None:
    """checkRestrictions refuses -> terminal status by error type; no transfer initiated."""
    fakes = FakeActivities(restriction_error=error_type)
    initiated, final, handle = await initiate_and_finish(client, task_queue, fakes, withdraw_input)

    assert initiated.status == status
    assert final.status == status
    assert final.failure_code == code
    assert statuses(final) == [S.INITIATED, status]
    assert fakes.calls == [A.VALIDATE_USER, A.CHECK_RESTRICTIONS]
    assert fakes.keys == []
    assert_every_transition_saved(fakes, final)
    description = await handle.describe()
    assert description.typed_search_attributes.get(WITHDRAW_STATUS) == status.value


async def test_our_database_away_during_check_restrictions_only_delays_the_initiation(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """checkRestrictions cannot reach our database (its retries used up, three times over):
    the workflow waits and checks again, and the withdrawal goes on as if nothing happened;
    an outage is never the customer's INITIATION_FAILED."""
    fakes = FakeActivities(restriction_errors=[FailureType.DATABASE_UNAVAILABLE] * 3)
    async with withdrawal(client, task_queue, fakes, withdraw_input, initiated=False) as handle:
        final = await handle.result()  # time skips through the waits, then the OTP window

    assert statuses(final) == [S.INITIATED, S.AWAITING_OTP, S.OTP_TIMEOUT]  # nobody sent one
    assert fakes.calls[:6] == [
        A.VALIDATE_USER,
        *[A.CHECK_RESTRICTIONS] * 4,
        A.INITIATE_TRANSFER,
    ]
    assert_every_transition_saved(fakes, final)


@pytest.mark.parametrize(
    ("error_type", "code"),
    [
        (FailureType.INSUFFICIENT_FUNDS, FailureCode.INSUFFICIENT_FUNDS),
        (FailureType.ACCOUNT_BLOCKED, FailureCode.ACCOUNT_BLOCKED),
        (UPSTREAM_DOWN, FailureCode.UPSTREAM_UNAVAILABLE),
    ],
    ids=["insufficient-funds", "account-blocked", "other-error"],
)
async def test_initiate_transfer_refused_ends_initiation_failed(
    client: Client,
    task_queue: str,
    withdraw_input: WithdrawInput,
    error_type: str,
    code: FailureCode,
) -> None:
    """initiateTransfer refuses -> INITIATION_FAILED with a code by error type; no OTP wait."""
    fakes = FakeActivities(initiate_error=error_type)
    initiated, final, _ = await initiate_and_finish(client, task_queue, fakes, withdraw_input)

    assert initiated.status == S.INITIATION_FAILED
    assert initiated.failure_code == code
    assert final.status == S.INITIATION_FAILED
    assert final.failure_code == code
    assert final.authorisation_id is None
    assert statuses(final) == [S.INITIATED, S.INITIATION_FAILED]
    assert fakes.calls == [A.VALIDATE_USER, A.CHECK_RESTRICTIONS, A.INITIATE_TRANSFER]
    assert fakes.keys == [f"{withdraw_input.correlation_id}:initiate"]
    assert_nothing_debited(fakes)
    assert_every_transition_saved(fakes, final)


async def test_initiate_answers_awaiting_otp_once_the_transfer_is_initiated(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """All checks pass -> `initiate` answers AWAITING_OTP with the authorisation and window."""
    fakes = FakeActivities()
    request = withdraw_input.model_copy(update={"otp_timeout_seconds": 60})
    async with fake_worker(client, task_queue, fakes):
        handle = await client.start_workflow(
            WithdrawWorkflow.run, request, id=f"WITHDRAW-{uuid.uuid4()}", task_queue=task_queue
        )
        initiated = await handle.execute_update(WithdrawWorkflow.initiate)
        again = await handle.execute_update(WithdrawWorkflow.initiate)
        final = await handle.result()  # nobody sends an OTP: time skips past the window

    assert initiated.status == S.AWAITING_OTP
    assert initiated.authorisation_id == "auth-1"
    assert initiated.transfer_reference_number == "TRF0000000001"
    assert initiated.otp_expires_at is not None
    awaiting_since = initiated.history[-1].at
    assert (initiated.otp_expires_at - awaiting_since).total_seconds() == 60
    assert again == initiated  # `initiate` is idempotent once past INITIATED
    assert fakes.calls == [A.VALIDATE_USER, A.CHECK_RESTRICTIONS, A.INITIATE_TRANSFER]
    assert final.status == S.OTP_TIMEOUT
    assert_every_transition_saved(fakes, final)
