"""CompensationWorkflow: the seed's "Saga Pattern" flowchart. The bank paid out but the
brokerage side failed, so the transfer is reversed (idempotently, retried per policy).

Success: the customer is notified and the withdrawal ends COMPENSATED. Failure: an operator
task of kind COMPENSATION_FAILED is opened, a CRITICAL line is logged, and the withdrawal ends
MANUAL_COMPENSATION_REQUIRED. Started as a child that outlives a cancelled parent.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from withdraw_service.activities.models import (
        MarkCompensatedInput,
        NotifyCustomerInput,
        OpenOperatorTaskInput,
        OperatorTaskResult,
        RollbackTransferInput,
        RollbackTransferResult,
        VerifyTransferStatusInput,
        VerifyTransferStatusResult,
    )
    from withdraw_service.activities.operations import OperationsActivities
    from withdraw_service.activities.withdraw import WithdrawActivities
    from withdraw_service.domain.outcomes import (
        CheckerStatus,
        FailureCode,
        NotificationKind,
        TaskKind,
    )
    from withdraw_service.domain.policies import ActivityName, RetryPolicies
    from withdraw_service.workflows.activity_calls import (
        UNTIL_DONE,
        attempts_made,
        error_message,
        run_activity,
    )

COMPENSATION_WORKFLOW_NAME = "CompensationWorkflow"


class CompensationInput(BaseModel):
    workflow_id: str
    correlation_id: str
    user_id: str
    amount: Decimal
    reference_number: str
    failure_code: FailureCode
    reason: str
    idempotency_key: str
    policies: RetryPolicies
    # Set when an operator retries a failed compensation: its task, resolved on success in
    # the name of the operator who asked.
    retry_of_task: str | None = None
    operator: str | None = None


class CompensationResult(BaseModel):
    succeeded: bool
    attempts: int
    task_id: str | None = None
    reason: str | None = None


@workflow.defn(name=COMPENSATION_WORKFLOW_NAME)
class CompensationWorkflow:
    @workflow.run
    async def run(self, request: CompensationInput) -> CompensationResult:
        policies = request.policies
        if request.retry_of_task is not None:
            early = await self._before_retrying(request)
            if early is not None:
                return early
        try:
            reversed_: RollbackTransferResult = await run_activity(
                policies,
                WithdrawActivities.rollback_transfer,
                RollbackTransferInput(
                    reference_number=request.reference_number,
                    correlation_id=request.correlation_id,
                    reason=request.failure_code,
                    idempotency_key=request.idempotency_key,
                ),
            )
        except ActivityError as err:
            maximum = policies.of(ActivityName.ROLLBACK_TRANSFER).retry_policy.maximum_attempts
            attempts = attempts_made(err, maximum)
            if request.retry_of_task is not None:  # the operator's task stays open
                return CompensationResult(
                    succeeded=False,
                    attempts=attempts,
                    task_id=request.retry_of_task,
                    reason=error_message(err),
                )
            return await self._hand_to_operators(request, error_message(err), attempts)
        if request.retry_of_task is not None:
            await run_activity(
                policies,
                OperationsActivities.mark_compensated,
                MarkCompensatedInput(
                    workflow_id=request.workflow_id,
                    task_id=request.retry_of_task,
                    attempts=reversed_.attempts,
                    operator=request.operator,
                ),
                attempts=UNTIL_DONE,
            )
        await run_activity(
            policies,
            OperationsActivities.notify_customer,
            NotifyCustomerInput(
                workflow_id=request.workflow_id,
                user_id=request.user_id,
                kind=NotificationKind.WITHDRAW_COMPENSATED,
                message=(
                    f"Your withdrawal of USD {request.amount:.2f} could not be completed "
                    "and the bank transfer was reversed."
                ),
            ),
            attempts=UNTIL_DONE,
        )
        return CompensationResult(succeeded=True, attempts=reversed_.attempts)

    async def _before_retrying(self, request: CompensationInput) -> CompensationResult | None:
        """An operator's retry looks before it reverses: an earlier reversal may have gone
        through after all (it timed out). Reversed already: the task closes, nothing is sent.
        Still debited: the reversal runs. Anything else: the task stays open."""
        assert request.retry_of_task is not None
        try:
            report: VerifyTransferStatusResult = await run_activity(
                request.policies,
                WithdrawActivities.verify_transfer_status,
                VerifyTransferStatusInput(reference_number=request.reference_number),
            )
        except ActivityError as err:
            return CompensationResult(
                succeeded=False,
                attempts=0,
                task_id=request.retry_of_task,
                reason=error_message(err),
            )
        if report.status == CheckerStatus.REVERSED:
            await run_activity(
                request.policies,
                OperationsActivities.mark_compensated,
                MarkCompensatedInput(
                    workflow_id=request.workflow_id,
                    task_id=request.retry_of_task,
                    attempts=0,
                    operator=request.operator,
                ),
                attempts=UNTIL_DONE,
            )
            return CompensationResult(succeeded=True, attempts=0)
        if report.status != CheckerStatus.SUCCESS:
            return CompensationResult(
                succeeded=False,
                attempts=0,
                task_id=request.retry_of_task,
                reason=f"the bank reports the transfer {report.status}; not reversing",
            )
        return None

    async def _hand_to_operators(
        self, request: CompensationInput, why: str, attempts: int
    ) -> CompensationResult:
        task: OperatorTaskResult = await run_activity(
            request.policies,
            OperationsActivities.open_operator_task,
            OpenOperatorTaskInput(
                workflow_id=request.workflow_id,
                correlation_id=request.correlation_id,
                kind=TaskKind.COMPENSATION_FAILED,
                amount=request.amount,
                reason=f"reversal of {request.reference_number} failed: {why}",
            ),
            attempts=UNTIL_DONE,
        )
        workflow.logger.critical(
            "CRITICAL manual compensation required: workflowId=%s correlationId=%s task=%s",
            request.workflow_id,
            request.correlation_id,
            task.task_id,
            # The withdrawal's ids (this child's own id is the withdrawal's + "-compensation").
            extra={"workflowId": request.workflow_id, "correlationId": request.correlation_id},
        )
        return CompensationResult(
            succeeded=False, attempts=attempts, task_id=task.task_id, reason=why
        )
