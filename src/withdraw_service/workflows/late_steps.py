"""The withdraw workflow's steps after the bank debit, and the plumbing every step uses.

After finalizeTransfer the bank has paid out: from here on a failure means compensating
(CompensationWorkflow), and an unknown outcome means looking again before deciding. Split
from `withdraw.py` only to keep each module readable; WithdrawWorkflow is the one workflow.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from withdraw_service.activities import errors
    from withdraw_service.activities.models import (
        CreateDwRedemptionInput,
        DwRedemptionResult,
        OpenOperatorTaskInput,
        OperatorTaskResult,
        RollbackTransferInput,
        SaveToDbInput,
        UserContext,
    )
    from withdraw_service.activities.operations import COMPENSATION_FAILED, OperationsActivities
    from withdraw_service.activities.withdraw import WithdrawActivities
    from withdraw_service.domain.statuses import WithdrawStatus
    from withdraw_service.domain.withdrawal import CompensationInfo, HistoryEntry, WithdrawState
    from withdraw_service.workflows.common import error_message, error_type, run_activity
    from withdraw_service.workflows.compensation import (
        CompensationInput,
        CompensationResult,
        CompensationWorkflow,
    )
    from withdraw_service.workflows.models import WITHDRAW_STATUS, WithdrawInput

S = WithdrawStatus

# workflow.patched ids, one per change made after the first histories were recorded (each id
# is remembered on its own, so a history from before replays the old branch at every site).
SAGA_V2 = "saga-v2"  # compensation as a child workflow
SECOND_LOOK = "redemption-second-look"
REVIEW_TASK = "review-task"
FINALIZE_RESEND = "finalize-resend"

# DriveWealth itself refused this Idempotency-Key (it would have answered an earlier success
# for the same key instead): nothing was redeemed, so reversing is safe. A 401 is not such an
# answer: it comes before DriveWealth looks at the key.
DW_REFUSALS = frozenset({errors.INSUFFICIENT_BALANCE, errors.ACCOUNT_SUSPENDED})


class Ended(Exception):
    """Control flow inside the workflow: the withdrawal reached a terminal status."""

    def __init__(
        self,
        status: WithdrawStatus,
        code: str | None,
        reason: str | None,
        compensation: CompensationInfo | None = None,
    ) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason
        self.compensation = compensation


class LateSteps:
    """Base of WithdrawWorkflow: the redemption, the saga, and state persistence."""

    _request: WithdrawInput
    _state: WithdrawState
    _dw_account_id: str | None

    async def _redeem_or_compensate(self, user: UserContext) -> None:
        try:
            await self._activity(WithdrawActivities.get_dw_token, "getDwToken", None)
        except ActivityError as err:
            await self._compensate("DW_TOKEN_FAILED", error_message(err))
        await self._transition(S.CREATING_DW_REDEMPTION)
        try:
            redemption: DwRedemptionResult = await self._activity(
                WithdrawActivities.create_dw_redemption,
                "createDwRedemption",
                self._redemption_input(user),
            )
        except ActivityError as err:
            if error_type(err) in DW_REFUSALS or not workflow.patched(SECOND_LOOK):
                await self._compensate("DW_REDEMPTION_FAILED", error_message(err))
            redemption = await self._second_look(user)
        await self._transition(S.COMPLETED, dw_redemption_id=redemption.redemption_id)

    async def _second_look(self, user: UserContext) -> DwRedemptionResult:
        """The retries ran out without DriveWealth refusing: any attempt may have gone through
        (a timeout after commit, then 5xx). Ask again with the same Idempotency-Key, which
        answers the first result or makes it now. Only DriveWealth's own refusal allows the
        bank transfer to be reversed; with no clear answer an operator decides."""
        try:
            result: DwRedemptionResult = await self._activity(
                WithdrawActivities.create_dw_redemption,
                "createDwRedemption",
                self._redemption_input(user),
            )
            return result
        except ActivityError as again:
            if error_type(again) in DW_REFUSALS:
                await self._compensate("DW_REDEMPTION_FAILED", error_message(again))
        reason = "DriveWealth redemption outcome unknown; the bank transfer was NOT reversed"
        task_id = await self._open_task(COMPENSATION_FAILED, reason)
        workflow.logger.critical(
            "CRITICAL %s: workflowId=%s",
            reason,
            self._state.workflow_id,
            extra={"correlationId": self._request.correlation_id},
        )
        raise Ended(
            S.MANUAL_COMPENSATION_REQUIRED,
            "DW_REDEMPTION_UNKNOWN",
            reason,
            CompensationInfo(status="NOT_ATTEMPTED", task_id=task_id),
        )

    async def _compensate(self, code: str, reason: str) -> NoReturn:
        """The bank paid but the brokerage did not: reverse the transfer, then end."""
        await self._transition(
            S.COMPENSATING,
            failure_code=code,
            failure_reason=reason,
            compensation=CompensationInfo(status="IN_PROGRESS"),
        )
        if not workflow.patched(SAGA_V2):
            await self._compensate_inline(code, reason)
        # A child that outlives its parent: cancelling the withdrawal can never stop a reversal.
        result: CompensationResult = await workflow.execute_child_workflow(
            CompensationWorkflow.run,
            CompensationInput(
                workflow_id=self._state.workflow_id,
                correlation_id=self._request.correlation_id,
                user_id=self._request.user_id,
                amount=self._request.amount,
                reference_number=self._state.transfer_reference_number or "",
                failure_code=code,
                reason=reason,
                idempotency_key=self._key("reverse"),
                policies=self._request.policies,
            ),
            id=f"{self._state.workflow_id}-compensation",
            cancellation_type=ChildWorkflowCancellationType.ABANDON,
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        if result.succeeded:
            info = CompensationInfo(status="SUCCEEDED", attempts=result.attempts)
            raise Ended(S.COMPENSATED, code, reason, info)
        info = CompensationInfo(status="FAILED", attempts=result.attempts, task_id=result.task_id)
        raise Ended(S.MANUAL_COMPENSATION_REQUIRED, code, result.reason or reason, info)

    async def _compensate_inline(self, code: str, reason: str) -> NoReturn:
        """Before SAGA_V2: kept only so that histories recorded then still replay."""
        try:
            await run_activity(
                self._request.policies,
                "rollbackTransfer",
                "rollbackTransfer",  # by name: its result type changed since
                RollbackTransferInput(
                    reference_number=self._state.transfer_reference_number or "",
                    correlation_id=self._request.correlation_id,
                    reason=code,
                    idempotency_key=self._key("reverse"),
                ),
            )
        except ActivityError as err:
            raise Ended(S.MANUAL_COMPENSATION_REQUIRED, code, error_message(err)) from None
        raise Ended(S.COMPENSATED, code, reason)

    async def _open_task(self, kind: str, reason: str) -> str:
        task: OperatorTaskResult = await self._activity(
            OperationsActivities.open_operator_task,
            "openOperatorTask",
            OpenOperatorTaskInput(
                workflow_id=self._state.workflow_id,
                correlation_id=self._request.correlation_id,
                kind=kind,
                amount=self._request.amount,
                reason=reason,
            ),
        )
        return task.task_id

    def _redemption_input(self, user: UserContext) -> CreateDwRedemptionInput:
        return CreateDwRedemptionInput(
            user_id=user.user_id,
            dw_account_id=user.dw_account_id,
            amount=self._request.amount,
            correlation_id=self._request.correlation_id,
            idempotency_key=self._key("redemption"),
        )

    async def _transition(self, status: WithdrawStatus, **changes: Any) -> None:
        """Persist the new status with its history row first, then make it visible: no
        answer, query or search ever shows a status the database does not have yet."""
        now = workflow.now()
        state = self._state.model_copy(deep=True, update=changes)
        state.status = status
        state.updated_at = now
        state.history.append(HistoryEntry(status=status, at=now))
        await self._save(state)
        self._state = state
        workflow.upsert_search_attributes([WITHDRAW_STATUS.value_set(status.value)])

    async def _save(self, state: WithdrawState) -> None:
        """Persist, however long the database is away: a persistence error must never decide
        where the money goes, so this waits (backing off to a minute) instead of failing."""
        pause = timedelta(seconds=1)
        while True:
            try:
                await self._activity(
                    WithdrawActivities.save_to_db,
                    "saveToDb",
                    SaveToDbInput(state=state, dw_account_id=self._dw_account_id),
                )
                return
            except ActivityError as err:
                workflow.logger.error(
                    "saveToDb exhausted its retries (%s); trying again in %s",
                    error_type(err),
                    pause,
                    extra={"correlationId": self._request.correlation_id},
                )
                await workflow.sleep(pause)
                pause = min(pause * 2, timedelta(minutes=1))

    def _key(self, step: str) -> str:
        """Idempotency key of one money-moving step: fixed before its first attempt."""
        return f"{self._request.correlation_id}:{step}"

    async def _activity(
        self, method: Any, name: str, arg: Any, *, attempts: int | None = None
    ) -> Any:
        return await run_activity(self._request.policies, name, method, arg, attempts=attempts)
