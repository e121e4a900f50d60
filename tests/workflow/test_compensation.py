"""The saga branches of WithdrawWorkflow: the bank transfer went through but the DriveWealth
side failed, so CompensationWorkflow (a child, id `<workflowId>-compensation`) reverses the
transfer with key `<correlationId>:reverse` and notifies the customer -> COMPENSATED; when the
reversal fails an operator task is opened -> MANUAL_COMPENSATION_REQUIRED. A redemption whose
outcome is unknown gets a second look before anything is reversed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus

from tests.support.fake_activities import GOOD_OTP, FakeActivities
from tests.support.workers import fake_worker
from tests.support.workflow_asserts import assert_every_transition_saved, statuses
from withdraw_service.activities.models import (
    CreateDwRedemptionInput,
    DwRedemptionResult,
    MarkCompensatedInput,
    RollbackTransferInput,
    RollbackTransferResult,
)
from withdraw_service.domain.outcomes import (
    CheckerStatus,
    CompensationStatus,
    FailureCode,
    FailureType,
    NotificationKind,
    TaskKind,
)
from withdraw_service.domain.policies import ActivityName as A
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import CompensationInfo, WithdrawState
from withdraw_service.workflows.compensation import (
    CompensationInput,
    CompensationResult,
    CompensationWorkflow,
)
from withdraw_service.workflows.models import (
    WITHDRAW_STATUS,
    OtpSubmission,
    OtpVerdict,
    WithdrawInput,
)
from withdraw_service.workflows.withdraw import WithdrawWorkflow

PAID = [S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER, S.TRANSFER_COMPLETED]
REVERSAL_REFUSED = f"scripted {FailureType.REVERSAL_REFUSED}"


@dataclass
class SagaFakes(FakeActivities):
    """Keeps each rollbackTransfer request; createDwRedemption can follow a script of
    error types (None = success), one per call, before falling back to `redemption_error`."""

    rollbacks: list[RollbackTransferInput] = field(default_factory=list)
    redemption_script: list[str | None] = field(default_factory=list)

    @activity.defn(name=A.ROLLBACK_TRANSFER)
    async def rollback_transfer(self, request: RollbackTransferInput) -> RollbackTransferResult:
        self.rollbacks.append(request)
        return await super().rollback_transfer(request)

    @activity.defn(name=A.CREATE_DW_REDEMPTION)
    async def create_dw_redemption(self, request: CreateDwRedemptionInput) -> DwRedemptionResult:
        if self.redemption_script:
            self.redemption_error = self.redemption_script.pop(0)
        return await super().create_dw_redemption(request)


@dataclass
class Outcome:
    final: WithdrawState
    search_status: str | None
    child_status: WorkflowExecutionStatus | None


async def run_to_the_end(
    client: Client, task_queue: str, fakes: FakeActivities, request: WithdrawInput
) -> Outcome:
    """Start, initiate, send the right OTP, await the result; also what Temporal shows."""
    async with fake_worker(client, task_queue, fakes):
        handle = await client.start_workflow(
            WithdrawWorkflow.run, request, id=f"WITHDRAW-{uuid.uuid4()}", task_queue=task_queue
        )
        assert (await handle.execute_update(WithdrawWorkflow.initiate)).status == S.AWAITING_OTP
        answer = await handle.execute_update(
            WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP)
        )
        assert answer.verdict == OtpVerdict.ACCEPTED
        final = await handle.result()
        search_status = (await handle.describe()).typed_search_attributes.get(WITHDRAW_STATUS)
        child_status = None
        if A.ROLLBACK_TRANSFER in fakes.calls:
            child = client.get_workflow_handle(f"{handle.id}-compensation")
            child_status = (await child.describe()).status
    return Outcome(final, search_status, child_status)


# -- reversal succeeds -------------------------------------------------------------------


async def test_dw_token_failure_reverses_the_transfer_and_ends_compensated(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """getDwToken fails (InvalidCredentialsException) -> COMPENSATING -> COMPENSATED with
    DW_TOKEN_FAILED; one reversal by the child, customer notified, no redemption."""
    fakes = SagaFakes(token_error=FailureType.INVALID_CREDENTIALS)
    outcome = await run_to_the_end(client, task_queue, fakes, withdraw_input)
    final = outcome.final

    assert final.status == S.COMPENSATED
    assert final.failure_code == FailureCode.DW_TOKEN_FAILED
    assert final.dw_redemption_id is None
    assert final.compensation == CompensationInfo(status=CompensationStatus.SUCCEEDED, attempts=1)
    assert statuses(final) == [*PAID, S.COMPENSATING, S.COMPENSATED]
    compensating = next(s for s in fakes.saved if s.status == S.COMPENSATING)
    assert compensating.failure_code == FailureCode.DW_TOKEN_FAILED
    assert compensating.compensation == CompensationInfo(status=CompensationStatus.IN_PROGRESS)
    assert fakes.calls[-3:] == [A.GET_DW_TOKEN, A.ROLLBACK_TRANSFER, A.NOTIFY_CUSTOMER]
    assert A.CREATE_DW_REDEMPTION not in fakes.calls
    corr = withdraw_input.correlation_id
    assert fakes.keys == [f"{corr}:initiate", f"{corr}:finalize-1", f"{corr}:reverse"]
    assert [(r.reference_number, r.reason, r.correlation_id) for r in fakes.rollbacks] == [
        ("TRF0000000001", FailureCode.DW_TOKEN_FAILED, corr)
    ]
    assert fakes.notifications == [NotificationKind.WITHDRAW_COMPENSATED]
    assert fakes.tasks == []
    assert outcome.child_status == WorkflowExecutionStatus.COMPLETED
    assert outcome.search_status == S.COMPENSATED
    assert_every_transition_saved(fakes, final)


async def test_dw_redemption_failure_reverses_the_transfer_and_ends_compensated(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """createDwRedemption refused (InsufficientBalanceException) -> COMPENSATED with
    DW_REDEMPTION_FAILED after one reversal; no second look for a clear refusal."""
    fakes = SagaFakes(redemption_error=FailureType.INSUFFICIENT_BALANCE)
    outcome = await run_to_the_end(client, task_queue, fakes, withdraw_input)
    final = outcome.final

    assert final.status == S.COMPENSATED
    assert final.failure_code == FailureCode.DW_REDEMPTION_FAILED
    assert final.compensation == CompensationInfo(status=CompensationStatus.SUCCEEDED, attempts=1)
    assert statuses(final) == [*PAID, S.CREATING_DW_REDEMPTION, S.COMPENSATING, S.COMPENSATED]
    assert fakes.calls.count(A.CREATE_DW_REDEMPTION) == 1
    corr = withdraw_input.correlation_id
    assert fakes.keys == [
        f"{corr}:initiate",
        f"{corr}:finalize-1",
        f"{corr}:redemption",
        f"{corr}:reverse",
    ]
    assert [r.reason for r in fakes.rollbacks] == [FailureCode.DW_REDEMPTION_FAILED]
    assert fakes.notifications == [NotificationKind.WITHDRAW_COMPENSATED]
    assert outcome.child_status == WorkflowExecutionStatus.COMPLETED
    assert outcome.search_status == S.COMPENSATED
    assert_every_transition_saved(fakes, final)


# -- reversal fails ----------------------------------------------------------------------

FAILING_DW_STEP = pytest.mark.parametrize(
    ("failing", "code"),
    [
        ({"token_error": FailureType.INVALID_CREDENTIALS}, FailureCode.DW_TOKEN_FAILED),
        (
            {"redemption_error": FailureType.INSUFFICIENT_BALANCE},
            FailureCode.DW_REDEMPTION_FAILED,
        ),
    ],
    ids=["token", "redemption"],
)


@FAILING_DW_STEP
async def test_failed_reversal_ends_manual_compensation_required(
    client: Client,
    task_queue: str,
    withdraw_input: WithdrawInput,
    failing: dict[str, str],
    code: FailureCode,
) -> None:
    """The DriveWealth step fails and rollbackTransfer fails too -> an operator task
    COMPENSATION_FAILED, MANUAL_COMPENSATION_REQUIRED keeping the original failure code."""
    fakes = SagaFakes(rollback_error=FailureType.REVERSAL_REFUSED, **failing)
    outcome = await run_to_the_end(client, task_queue, fakes, withdraw_input)
    final = outcome.final

    assert final.status == S.MANUAL_COMPENSATION_REQUIRED
    assert final.failure_code == code
    assert final.failure_reason == REVERSAL_REFUSED
    assert final.compensation is not None
    assert (final.compensation.status, final.compensation.task_id) == (
        CompensationStatus.FAILED,
        "task-1",
    )
    assert statuses(final)[-2:] == [S.COMPENSATING, S.MANUAL_COMPENSATION_REQUIRED]
    assert statuses(final)[: len(PAID)] == PAID
    assert fakes.calls.count(A.ROLLBACK_TRANSFER) == 1
    assert [r.idempotency_key for r in fakes.rollbacks] == [
        f"{withdraw_input.correlation_id}:reverse"
    ]
    assert fakes.tasks == [
        (TaskKind.COMPENSATION_FAILED, f"reversal of TRF0000000001 failed: {REVERSAL_REFUSED}")
    ]
    assert fakes.notifications == []
    assert outcome.child_status == WorkflowExecutionStatus.COMPLETED
    assert outcome.search_status == S.MANUAL_COMPENSATION_REQUIRED
    assert_every_transition_saved(fakes, final)


async def test_failed_reversal_reports_the_attempts_really_made(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """A reversal refused outright (non-retryable, as the real activity raises it) was tried
    once: compensation.attempts must say 1, not the policy's maximum."""
    fakes = SagaFakes(
        rollback_error=FailureType.REVERSAL_REFUSED, token_error=FailureType.ACCOUNT_SUSPENDED
    )
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert fakes.calls.count(A.ROLLBACK_TRANSFER) == 1
    assert final.compensation is not None
    assert final.compensation.attempts == 1


# -- redemption outcome unknown: a second look first -------------------------------------


async def test_unknown_redemption_second_look_succeeds_and_completes(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """createDwRedemption outcome unknown -> asked once more with the same key; it answers
    -> COMPLETED, nothing reversed."""
    fakes = SagaFakes(redemption_script=[FailureType.DW_OUTCOME_UNKNOWN, None])
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.COMPLETED
    assert final.dw_redemption_id == "DWAA001001-R1"
    assert statuses(final) == [*PAID, S.CREATING_DW_REDEMPTION, S.COMPLETED]
    corr = withdraw_input.correlation_id
    assert fakes.keys.count(f"{corr}:redemption") == 2
    assert A.ROLLBACK_TRANSFER not in fakes.calls
    assert fakes.tasks == []
    assert_every_transition_saved(fakes, final)


async def test_unknown_redemption_then_clear_refusal_compensates(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """Outcome unknown, the second look is a clear refusal (nothing redeemed) -> reversal,
    COMPENSATED with DW_REDEMPTION_FAILED."""
    fakes = SagaFakes(
        redemption_script=[FailureType.DW_OUTCOME_UNKNOWN, FailureType.INSUFFICIENT_BALANCE]
    )
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.COMPENSATED
    assert final.failure_code == FailureCode.DW_REDEMPTION_FAILED
    assert fakes.calls.count(A.CREATE_DW_REDEMPTION) == 2
    assert fakes.calls.count(A.ROLLBACK_TRANSFER) == 1
    assert_every_transition_saved(fakes, final)


async def test_unknown_redemption_twice_hands_to_operators_without_reversing(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """Outcome unknown twice -> never reverse on a guess: an operator task, status
    MANUAL_COMPENSATION_REQUIRED / DW_REDEMPTION_UNKNOWN, compensation NOT_ATTEMPTED."""
    fakes = SagaFakes(
        redemption_script=[FailureType.DW_OUTCOME_UNKNOWN, FailureType.DW_OUTCOME_UNKNOWN]
    )
    outcome = await run_to_the_end(client, task_queue, fakes, withdraw_input)
    final = outcome.final

    assert final.status == S.MANUAL_COMPENSATION_REQUIRED
    assert final.failure_code == FailureCode.DW_REDEMPTION_UNKNOWN
    assert final.compensation == CompensationInfo(
        status=CompensationStatus.NOT_ATTEMPTED, task_id="task-1"
    )
    assert statuses(final) == [*PAID, S.CREATING_DW_REDEMPTION, S.MANUAL_COMPENSATION_REQUIRED]
    assert fakes.calls.count(A.CREATE_DW_REDEMPTION) == 2
    assert A.ROLLBACK_TRANSFER not in fakes.calls
    assert [kind for kind, _ in fakes.tasks] == [TaskKind.COMPENSATION_FAILED]
    assert outcome.search_status == S.MANUAL_COMPENSATION_REQUIRED
    assert_every_transition_saved(fakes, final)


@pytest.mark.parametrize(
    "second",
    ["UpstreamUnavailableError", FailureType.DW_NOT_SENT, FailureType.ACCOUNT_LOOKUP],
)
async def test_second_look_without_a_refusal_never_reverses(
    client: Client, task_queue: str, withdraw_input: WithdrawInput, second: str
) -> None:
    """Unknown, then an answer that is not DriveWealth refusing this key (5xx, a 401, the
    account lookup): the first attempt may have redeemed, so nothing is reversed."""
    fakes = SagaFakes(redemption_script=[FailureType.DW_OUTCOME_UNKNOWN, second])
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.MANUAL_COMPENSATION_REQUIRED
    assert final.failure_code == FailureCode.DW_REDEMPTION_UNKNOWN
    assert A.ROLLBACK_TRANSFER not in fakes.calls
    assert [kind for kind, _ in fakes.tasks] == [TaskKind.COMPENSATION_FAILED]


async def test_retries_exhausted_on_5xx_get_a_second_look_before_any_reversal(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """The last attempt ended in a 5xx: an earlier one may have committed. The second look
    with the same key finds the redemption -> COMPLETED, nothing reversed."""
    fakes = SagaFakes(redemption_script=["UpstreamUnavailableError", None])
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.COMPLETED
    assert fakes.calls.count(A.CREATE_DW_REDEMPTION) == 2
    assert A.ROLLBACK_TRANSFER not in fakes.calls
    corr = withdraw_input.correlation_id
    assert fakes.keys.count(f"{corr}:redemption") == 2


# -- an operator's retry of a failed reversal (CompensationWorkflow with retry_of_task) -----

TASK_ID = "task-7"
OPERATOR = "ops-fay"  # the task is resolved in the name of the operator who asked


def _retry_input(withdraw_input: WithdrawInput) -> CompensationInput:
    """What the operator desk starts for POST /ops/compensation-tasks/{id}/retry."""
    corr = withdraw_input.correlation_id
    return CompensationInput(
        workflow_id=f"WITHDRAW-{uuid.uuid4()}",
        correlation_id=corr,
        user_id=withdraw_input.user_id,
        amount=withdraw_input.amount,
        reference_number="TRF0000000001",
        failure_code=FailureCode.DW_REDEMPTION_FAILED,
        reason="the operator retries the reversal",
        idempotency_key=f"{corr}:reverse:retry-{TASK_ID}",
        policies=withdraw_input.policies,
        retry_of_task=TASK_ID,
        operator=OPERATOR,
    )


async def run_retry(
    client: Client, task_queue: str, fakes: FakeActivities, request: CompensationInput
) -> CompensationResult:
    async with fake_worker(client, task_queue, fakes):
        return await client.execute_workflow(
            CompensationWorkflow.run,
            request,
            id=f"{request.workflow_id}-compensation-retry-{TASK_ID}",
            task_queue=task_queue,
        )


async def test_retry_finding_the_transfer_reversed_closes_the_task_without_reversing(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """The checker says REVERSED (an earlier reversal went through after all): the task is
    marked compensated with 0 attempts, nothing is sent to the bank again."""
    fakes = SagaFakes(verify_statuses=[CheckerStatus.REVERSED])
    request = _retry_input(withdraw_input)

    result = await run_retry(client, task_queue, fakes, request)

    assert result == CompensationResult(succeeded=True, attempts=0)
    assert fakes.calls[:2] == [A.VERIFY_TRANSFER_STATUS, A.MARK_COMPENSATED]
    # Whether notifyCustomer follows is deliberately not pinned here: docs/api.md says a
    # COMPENSATED withdrawal's customer is notified, and this branch does not notify today.
    assert fakes.compensated == [
        MarkCompensatedInput(
            workflow_id=request.workflow_id, task_id=TASK_ID, attempts=0, operator=OPERATOR
        )
    ]
    assert A.ROLLBACK_TRANSFER not in fakes.calls
    assert fakes.rollbacks == [] and fakes.keys == []
    assert fakes.tasks == []


async def test_retry_finding_the_transfer_still_debited_reverses_it_with_the_given_key(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """The checker says SUCCESS (still debited): rollbackTransfer runs with the retry's key,
    then the task is marked compensated and the customer notified."""
    fakes = SagaFakes(verify_statuses=[CheckerStatus.SUCCESS])
    request = _retry_input(withdraw_input)

    result = await run_retry(client, task_queue, fakes, request)

    assert result == CompensationResult(succeeded=True, attempts=1)
    assert fakes.calls == [
        A.VERIFY_TRANSFER_STATUS,
        A.ROLLBACK_TRANSFER,
        A.MARK_COMPENSATED,
        A.NOTIFY_CUSTOMER,
    ]
    assert [(r.idempotency_key, r.reference_number, r.reason) for r in fakes.rollbacks] == [
        (request.idempotency_key, "TRF0000000001", FailureCode.DW_REDEMPTION_FAILED)
    ]
    assert fakes.compensated == [
        MarkCompensatedInput(
            workflow_id=request.workflow_id, task_id=TASK_ID, attempts=1, operator=OPERATOR
        )
    ]
    assert fakes.notifications == [NotificationKind.WITHDRAW_COMPENSATED]
    assert fakes.tasks == []


@pytest.mark.parametrize(
    "reported", [CheckerStatus.PENDING, CheckerStatus.INITIATED, CheckerStatus.FAILED]
)
async def test_retry_with_any_other_checker_answer_leaves_the_task_open(
    client: Client, task_queue: str, withdraw_input: WithdrawInput, reported: CheckerStatus
) -> None:
    """Neither REVERSED nor SUCCESS: nothing is reversed on a guess, the task stays open."""
    fakes = SagaFakes(verify_statuses=[reported])

    result = await run_retry(client, task_queue, fakes, _retry_input(withdraw_input))

    assert result == CompensationResult(
        succeeded=False,
        attempts=0,
        task_id=TASK_ID,
        reason=f"the bank reports the transfer {reported}; not reversing",
    )
    assert fakes.calls == [A.VERIFY_TRANSFER_STATUS]
    assert fakes.rollbacks == [] and fakes.compensated == [] and fakes.tasks == []
    assert fakes.notifications == []


async def test_retry_whose_checker_fails_leaves_the_task_open(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """The Transfer Checker cannot be asked: nothing is reversed, the task stays open."""
    fakes = SagaFakes(verify_error="UpstreamUnavailableError")

    result = await run_retry(client, task_queue, fakes, _retry_input(withdraw_input))

    assert result == CompensationResult(
        succeeded=False,
        attempts=0,
        task_id=TASK_ID,
        reason="scripted UpstreamUnavailableError",
    )
    assert fakes.calls == [A.VERIFY_TRANSFER_STATUS]
    assert fakes.rollbacks == [] and fakes.compensated == [] and fakes.tasks == []
    assert fakes.notifications == []


async def test_retry_whose_reversal_fails_keeps_the_task_and_opens_no_other(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """Still debited, and the bank refuses the reversal again: the operator's task stays open
    with its id; no second COMPENSATION_FAILED task, no notification."""
    fakes = SagaFakes(
        verify_statuses=[CheckerStatus.SUCCESS], rollback_error=FailureType.REVERSAL_REFUSED
    )
    request = _retry_input(withdraw_input)

    result = await run_retry(client, task_queue, fakes, request)

    assert result == CompensationResult(
        succeeded=False, attempts=1, task_id=TASK_ID, reason=REVERSAL_REFUSED
    )
    assert fakes.calls == [A.VERIFY_TRANSFER_STATUS, A.ROLLBACK_TRANSFER]
    assert [r.idempotency_key for r in fakes.rollbacks] == [request.idempotency_key]
    assert fakes.tasks == []
    assert fakes.compensated == [] and fakes.notifications == []
