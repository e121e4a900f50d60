"""What operators can do about money the workflow could not settle by itself: list the tasks,
retry a failed reversal (idempotently), or mark a task handled by hand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from withdraw_service.api.gateway import GatewayConfig
from withdraw_service.api.state_reader import RPC_TIMEOUT
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import FailureCode, TaskKind, TaskState
from withdraw_service.domain.statuses import WithdrawStatus
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.persistence.operations import OperationsRepository, OperatorTask
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.workflows.compensation import CompensationInput, CompensationWorkflow


@dataclass(frozen=True)
class RetryAnswer:
    task: OperatorTask
    settled: bool  # the retry ran to its end (False: still running when the wait was over)
    succeeded: bool = False  # it reversed the transfer, or found it reversed: task resolved
    reason: str | None = None  # why it did not, when it ended without


START_TIMEOUT = timedelta(seconds=10)


def retry_workflow_id(task: OperatorTask) -> str:
    """One retry per task at a time: a second click joins the one running."""
    return f"{task.workflow_id}-compensation-retry-{task.id}"


class OperatorDesk:
    def __init__(
        self,
        client: Client,
        withdrawals: WithdrawalRepository,
        operations: OperationsRepository,
        config: GatewayConfig,
    ) -> None:
        self._client = client
        self._withdrawals = withdrawals
        self._operations = operations
        self._config = config

    async def tasks(
        self,
        state: TaskState | None,
        kind: TaskKind | None = None,
        limit: int | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[OperatorTask]:
        return list(await asyncio.to_thread(self._operations.tasks, state, kind, limit, after))

    async def task(self, task_id: str) -> OperatorTask:
        task = await asyncio.to_thread(self._operations.get_task, task_id)
        if task is None:
            raise errors.WithdrawalNotFound("no such task")
        return task

    async def resolve(self, task_id: str, operator: str, note: str) -> OperatorTask:
        task = await self.task(task_id)
        if task.kind == TaskKind.COMPENSATION_FAILED and await self.retry_running(task):
            # It may still reverse the transfer: settling it by hand now could pay it twice.
            raise errors.InvalidState(
                "a retry of this task is still running; wait for its result before resolving"
            )
        resolved = await asyncio.to_thread(self._operations.resolve, task_id, operator, note)
        if resolved is None:
            raise errors.InvalidState("the task is not open")
        return resolved

    async def retry_running(self, task: OperatorTask) -> bool:
        try:
            found = await self._client.get_workflow_handle(retry_workflow_id(task)).describe(
                rpc_timeout=RPC_TIMEOUT
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return found.status == WorkflowExecutionStatus.RUNNING

    async def retry_blocker(self, task: OperatorTask) -> tuple[str | None, WithdrawState | None]:
        """Why the task's reversal cannot be retried now (None: it can), and its withdrawal."""
        if task.state != TaskState.OPEN:
            return "the task is not open", None
        if task.kind != TaskKind.COMPENSATION_FAILED:
            return (
                "only a failed compensation can be retried; an unresolved transfer is checked "
                "with the bank and then resolved by hand"
            ), None
        state = await asyncio.to_thread(self._withdrawals.get, task.workflow_id)
        if state is None or state.status != WithdrawStatus.MANUAL_COMPENSATION_REQUIRED:
            # Its own workflow has not finished writing the outcome yet: never race it.
            return "the withdrawal is not waiting for manual compensation", state
        if not state.transfer_reference_number:
            return "the withdrawal has no transfer to reverse", state
        if state.failure_code == FailureCode.DW_REDEMPTION_UNKNOWN:
            return (
                "the redemption's outcome is unknown: check DriveWealth first, then resolve"
            ), state
        return None, state

    async def retry(self, task_id: str, operator: str) -> RetryAnswer:
        """Run the reversal of a COMPENSATION_FAILED task again, after asking the Transfer
        Checker whether an earlier reversal went through (then nothing is sent again); a
        success resolves the task in the operator's name."""
        task = await self.task(task_id)
        blocker, state = await self.retry_blocker(task)
        if blocker is not None:
            raise errors.InvalidState(blocker)
        assert state is not None and state.transfer_reference_number is not None
        handle = await self._client.start_workflow(
            CompensationWorkflow.run,
            CompensationInput(
                workflow_id=state.workflow_id,
                correlation_id=state.correlation_id,
                user_id=state.user_id,
                amount=state.amount,
                reference_number=state.transfer_reference_number,
                failure_code=state.failure_code or FailureCode.DW_REDEMPTION_FAILED,
                reason=f"operator retry of task {task.id}",
                # One key per task, however often it is retried: the bank applies it once.
                idempotency_key=f"{state.correlation_id}:reverse:task-{task.id}",
                policies=self._config.policies,
                retry_of_task=task.id,
                operator=operator,
            ),
            id=retry_workflow_id(task),
            task_queue=self._config.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            rpc_timeout=START_TIMEOUT,  # a server that does not answer: 503, not a hung request
        )
        try:
            result = await asyncio.wait_for(handle.result(), self._config.wait_seconds)
        except TimeoutError:
            return RetryAnswer(await self.task(task_id), settled=False)
        except WorkflowFailureError as failed:
            return RetryAnswer(
                await self.task(task_id), settled=True, reason=f"the retry failed: {failed.cause}"
            )
        return RetryAnswer(
            await self.task(task_id),
            settled=True,
            succeeded=result.succeeded,
            reason=result.reason,
        )
