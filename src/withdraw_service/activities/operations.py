"""Activities that hand work to people: operator tasks and customer notifications.

Both are idempotent per (withdrawal, kind), so a retried activity opens one task and sends one
message. A failed compensation is logged at CRITICAL: that line is what pages someone.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio import activity

from withdraw_service.activities.models import (
    MarkCompensatedInput,
    NotifyCustomerInput,
    OpenOperatorTaskInput,
    OperatorTaskResult,
)
from withdraw_service.metrics import WithdrawMetrics, noop_metrics
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository

log = logging.getLogger(__name__)

COMPENSATION_FAILED = "COMPENSATION_FAILED"
TRANSFER_UNRESOLVED = "TRANSFER_UNRESOLVED"


class OperationsActivities:
    def __init__(
        self,
        operations: OperationsRepository,
        withdrawals: WithdrawalRepository,
        metrics: WithdrawMetrics | None = None,
    ) -> None:
        self._operations = operations
        self._withdrawals = withdrawals
        self._metrics = metrics or noop_metrics()

    @activity.defn(name="openOperatorTask")
    async def open_operator_task(self, request: OpenOperatorTaskInput) -> OperatorTaskResult:
        task, created = await asyncio.to_thread(
            self._operations.open_task,
            request.workflow_id,
            request.correlation_id,
            request.kind,
            request.amount,
            request.reason,
        )
        level = logging.CRITICAL if request.kind == COMPENSATION_FAILED else logging.ERROR
        log.log(
            level,
            "operator task %s opened: %s for workflowId=%s correlationId=%s",
            task.id,
            request.kind,
            request.workflow_id,
            request.correlation_id,
        )
        if created and request.kind == COMPENSATION_FAILED:
            # Counted once per withdrawal (a retried activity finds the task already open).
            self._metrics.compensation_failed()
        return OperatorTaskResult(task_id=task.id)

    @activity.defn(name="notifyCustomer")
    async def notify_customer(self, request: NotifyCustomerInput) -> None:
        await asyncio.to_thread(
            self._operations.notify,
            request.workflow_id,
            request.user_id,
            request.kind,
            request.message,
        )

    @activity.defn(name="markCompensated")
    async def mark_compensated(self, request: MarkCompensatedInput) -> None:
        changed = await asyncio.to_thread(
            self._withdrawals.mark_compensated,
            request.workflow_id,
            request.attempts,
            request.task_id,
        )
        if changed:
            self._metrics.compensated_by_operator()

    def all(self) -> list[object]:
        return [self.open_operator_task, self.notify_customer, self.mark_compensated]
