"""The withdrawal's steps after the bank debit, and the compensation decision (the seed's saga).

After finalizeTransfer the bank has paid out: from here on a failure means compensating
(CompensationWorkflow reverses the transfer), and an unknown outcome means looking again before
deciding. Only DriveWealth's own refusal of the redemption, or proof that no request reached it,
allows a reversal; with no clear answer the transfer is left as it is and an operator decides.

A redemption DriveWealth accepted but has not settled is followed (DW_REDEMPTION_PENDING) until
it settles: SUCCESSFUL completes the withdrawal, FAILED or REJECTED reverses the bank transfer,
and none within the configured time leaves it to an operator (DW_SETTLEMENT_OVERDUE).
"""

from __future__ import annotations

from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError
from temporalio.exceptions import TimeoutError as ActivityTimeout
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from withdraw_service.activities.models import (
        CreateDwRedemptionInput,
        DwRedemptionResult,
        RollbackTransferInput,
        UserContext,
        VerifyDwRedemptionInput,
    )
    from withdraw_service.activities.withdraw import WithdrawActivities
    from withdraw_service.domain.outcomes import (
        DW_REFUSALS,
        DW_SETTLED_UNPAID,
        CompensationStatus,
        DwRedemptionStatus,
        FailureCode,
        FailureType,
        TaskKind,
    )
    from withdraw_service.domain.policies import ActivityName
    from withdraw_service.domain.statuses import WithdrawStatus
    from withdraw_service.domain.withdrawal import CompensationInfo
    from withdraw_service.workflows.activity_calls import (
        attempt_said,
        error_message,
        error_type,
        run_activity_by_name,
    )
    from withdraw_service.workflows.compensation import CompensationInput, CompensationWorkflow
    from withdraw_service.workflows.patches import DW_SETTLEMENT, NEVER_FAIL, SAGA_V2, SECOND_LOOK
    from withdraw_service.workflows.progress import Ended, Progress

S = WithdrawStatus


class Saga:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    async def redeem_or_compensate(self, user: UserContext) -> None:
        progress = self._progress
        try:
            await progress.run(WithdrawActivities.get_dw_token)
        except ActivityError as err:
            await self._compensate(FailureCode.DW_TOKEN_FAILED, error_message(err))
        await progress.transition(S.CREATING_DW_REDEMPTION)
        if workflow.patched(DW_SETTLEMENT):
            await self._follow(await self._redeem(user))
            return
        try:
            redemption = await progress.run(
                WithdrawActivities.create_dw_redemption, self._redemption_input(user)
            )
        except ActivityError as err:
            if error_type(err) in DW_REFUSALS or not workflow.patched(SECOND_LOOK):
                await self._compensate(FailureCode.DW_REDEMPTION_FAILED, error_message(err))
            redemption = await self._second_look(user)
        await progress.transition(S.COMPLETED, dw_redemption_id=redemption.redemption_id)

    async def _redeem(self, user: UserContext) -> DwRedemptionResult:
        """The redemption DriveWealth accepted, or the end the evidence allows.

        What the failed attempts prove is read from the history (each failure says its
        attempt): "not sent" on a first attempt proves nothing reached DriveWealth; any other
        failure, or any failure after an earlier attempt, may hide a redemption."""
        progress = self._progress
        policy = progress.request.policies.of(ActivityName.CREATE_DW_REDEMPTION)
        for fresh_token in (True, False):
            try:
                return await progress.run(
                    WithdrawActivities.create_dw_redemption, self._redemption_input(user)
                )
            except ActivityError as err:
                kind = error_type(err)
                # Only a failure that says it was the first attempt rules out an earlier one
                # (a timeout says nothing). A round is only ever followed by another when
                # nothing reached DriveWealth.
                said = attempt_said(err)
                earlier = said is None or said > 1
                if kind in DW_REFUSALS and not earlier:
                    await self._compensate(FailureCode.DW_REDEMPTION_FAILED, error_message(err))
                if kind != FailureType.DW_NOT_SENT or earlier:
                    break  # it may have been redeemed: look before deciding anything
                if not fresh_token:
                    await self._compensate(
                        FailureCode.DW_TOKEN_FAILED,
                        f"no request reached DriveWealth: {error_message(err)}",
                    )
            # Nothing reached DriveWealth: the seed's "Token Failed" branch, after one more
            # try once getDwToken has a token again (the activity dropped the refused one).
            try:
                await progress.run(WithdrawActivities.get_dw_token)
            except ActivityError as err:
                await self._compensate(FailureCode.DW_TOKEN_FAILED, error_message(err))
        # Give a request DriveWealth may still be working on the time to finish, so that the
        # same key then answers what it did (not "in progress").
        await workflow.sleep(policy.retry_policy.maximum_interval or policy.start_to_close_timeout)
        return await self._second_look(user)

    async def _follow(self, redemption: DwRedemptionResult) -> None:
        """COMPLETED once DriveWealth has settled the redemption SUCCESSFUL (at once, mostly);
        meanwhile DW_REDEMPTION_PENDING, looked up at the settlement interval by the server's
        retries (the history does not grow while it waits)."""
        progress = self._progress
        if redemption.status_id == DwRedemptionStatus.SUCCESSFUL:
            await progress.transition(S.COMPLETED, dw_redemption_id=redemption.redemption_id)
            return
        await progress.transition(
            S.DW_REDEMPTION_PENDING, dw_redemption_id=redemption.redemption_id
        )
        settlement = progress.request.dw_settlement
        try:
            settled = await workflow.execute_activity_method(
                WithdrawActivities.verify_dw_redemption,
                VerifyDwRedemptionInput(redemption_id=redemption.redemption_id),
                start_to_close_timeout=progress.request.policies.of(
                    ActivityName.VERIFY_DW_REDEMPTION
                ).start_to_close_timeout,
                schedule_to_close_timeout=settlement.max,
                retry_policy=RetryPolicy(
                    initial_interval=settlement.interval,
                    backoff_coefficient=1.0,
                    maximum_interval=settlement.interval,
                    maximum_attempts=0,
                ),
            )
        except ActivityError as err:
            if isinstance(err.cause, ActivityTimeout):
                why = f"had not settled it after {settlement.max}"
            else:
                why = f"could not be asked about it ({type(err.cause).__name__})"
            reason = (
                f"DriveWealth {why}: redemption {redemption.redemption_id}; "
                "the bank transfer stands"
            )
            await progress.open_task(TaskKind.DW_SETTLEMENT_OVERDUE, reason)
            raise Ended(
                S.MANUAL_REVIEW_REQUIRED, FailureCode.DW_SETTLEMENT_OVERDUE, reason
            ) from None
        if settled.status_id in DW_SETTLED_UNPAID:
            await self._compensate(
                FailureCode.DW_REDEMPTION_FAILED,
                f"DriveWealth settled the redemption {settled.status_message}",
            )
        await progress.transition(S.COMPLETED)

    async def _second_look(self, user: UserContext) -> DwRedemptionResult:
        """The retries ran out without DriveWealth refusing: any attempt may have gone through
        (a timeout after commit, then 5xx). Ask again with the same Idempotency-Key, which
        answers the first result or makes it now. Only DriveWealth's own refusal allows the
        bank transfer to be reversed; with no clear answer an operator decides."""
        progress = self._progress
        try:
            return await progress.run(
                WithdrawActivities.create_dw_redemption, self._redemption_input(user)
            )
        except ActivityError as again:
            if error_type(again) in DW_REFUSALS:
                await self._compensate(FailureCode.DW_REDEMPTION_FAILED, error_message(again))
        reason = "DriveWealth redemption outcome unknown; the bank transfer was NOT reversed"
        task_id = await progress.open_task(TaskKind.COMPENSATION_FAILED, reason)
        workflow.logger.critical(
            "CRITICAL %s: workflowId=%s",
            reason,
            progress.state.workflow_id,
            extra={"correlationId": progress.request.correlation_id},
        )
        raise Ended(
            S.MANUAL_COMPENSATION_REQUIRED,
            FailureCode.DW_REDEMPTION_UNKNOWN,
            reason,
            CompensationInfo(status=CompensationStatus.NOT_ATTEMPTED, task_id=task_id),
        )

    async def _compensate(self, code: FailureCode, reason: str) -> NoReturn:
        """The bank paid but the brokerage did not: reverse the transfer, then end."""
        progress = self._progress
        await progress.transition(
            S.COMPENSATING,
            failure_code=code,
            failure_reason=reason,
            compensation=CompensationInfo(status=CompensationStatus.IN_PROGRESS),
        )
        if not workflow.patched(SAGA_V2):
            await self._compensate_inline(code, reason)
        request, state = progress.request, progress.state
        # A child that outlives its parent: cancelling the withdrawal can never stop a reversal.
        try:
            result = await workflow.execute_child_workflow(
                CompensationWorkflow.run,
                CompensationInput(
                    workflow_id=state.workflow_id,
                    correlation_id=request.correlation_id,
                    user_id=request.user_id,
                    amount=request.amount,
                    reference_number=state.transfer_reference_number or "",
                    failure_code=code,
                    reason=reason,
                    idempotency_key=progress.key("reverse"),
                    policies=request.policies,
                ),
                id=f"{state.workflow_id}-compensation",
                cancellation_type=ChildWorkflowCancellationType.ABANDON,
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except FailureError as err:
            if not workflow.patched(NEVER_FAIL):
                raise
            # The reversal could not run (not started, or the child failed): the customer may
            # be debited. Never a failed execution: a person takes it from here.
            why = f"the compensation did not run to its end ({type(err).__name__})"
            task_id = await progress.open_task(TaskKind.COMPENSATION_FAILED, why)
            info = CompensationInfo(status=CompensationStatus.FAILED, task_id=task_id)
            raise Ended(S.MANUAL_COMPENSATION_REQUIRED, code, why, info) from None
        if result.succeeded:
            info = CompensationInfo(status=CompensationStatus.SUCCEEDED, attempts=result.attempts)
            raise Ended(S.COMPENSATED, code, reason, info)
        info = CompensationInfo(
            status=CompensationStatus.FAILED, attempts=result.attempts, task_id=result.task_id
        )
        raise Ended(S.MANUAL_COMPENSATION_REQUIRED, code, result.reason or reason, info)

    async def _compensate_inline(self, code: FailureCode, reason: str) -> NoReturn:
        """Before SAGA_V2: kept only so that histories recorded then still replay."""
        progress = self._progress
        try:
            await run_activity_by_name(  # by name: its result type changed since
                progress.request.policies,
                ActivityName.ROLLBACK_TRANSFER,
                RollbackTransferInput(
                    reference_number=progress.state.transfer_reference_number or "",
                    correlation_id=progress.request.correlation_id,
                    reason=code,
                    idempotency_key=progress.key("reverse"),
                ),
            )
        except ActivityError as err:
            raise Ended(S.MANUAL_COMPENSATION_REQUIRED, code, error_message(err)) from None
        raise Ended(S.COMPENSATED, code, reason)

    def _redemption_input(self, user: UserContext) -> CreateDwRedemptionInput:
        progress = self._progress
        return CreateDwRedemptionInput(
            user_id=user.user_id,
            dw_account_id=user.dw_account_id,
            amount=progress.request.amount,
            correlation_id=progress.request.correlation_id,
            idempotency_key=progress.key("redemption"),
        )
