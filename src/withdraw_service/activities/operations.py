"""Activities that hand work to people: operator tasks and customer notifications.

Both are idempotent per (withdrawal, kind), so a retried activity opens one task and sends one
message. A failed compensation is logged at CRITICAL: that line is what pages someone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from temporalio import activity

from withdraw_service.activities.models import (
    MarkCompensatedInput,
    NotifyCustomerInput,
    OpenOperatorTaskInput,
    OperatorTaskResult,
)
from withdraw_service.domain.outcomes import TaskKind
from withdraw_service.domain.policies import ActivityName
from withdraw_service.metrics import WithdrawMetrics, noop_metrics
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository

log = logging.getLogger(__name__)


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

    @activity.defn(name=ActivityName.OPEN_OPERATOR_TASK)
    async def open_operator_task(self, request: OpenOperatorTaskInput) -> OperatorTaskResult:
        task, created = await asyncio.to_thread(
            self._operations.open_task,
            request.workflow_id,
            request.correlation_id,
            request.kind,
            request.amount,
            request.reason,
        )
        level = logging.CRITICAL if request.kind == TaskKind.COMPENSATION_FAILED else logging.ERROR
        log.log(
            level,
            "operator task %s opened: %s for workflowId=%s correlationId=%s",
            task.id,
            request.kind,
            request.workflow_id,
            request.correlation_id,
        )
        if created and request.kind == TaskKind.COMPENSATION_FAILED:
            # Counted once per withdrawal (a retried activity finds the task already open).
            self._metrics.compensation_failed()
        return OperatorTaskResult(task_id=task.id)

    @activity.defn(name=ActivityName.NOTIFY_CUSTOMER)
    async def notify_customer(self, request: NotifyCustomerInput) -> None:
        await asyncio.to_thread(
            self._operations.notify,
            request.workflow_id,
            request.user_id,
            request.kind,
            request.message,
        )

    @activity.defn(name=ActivityName.MARK_COMPENSATED)
    async def mark_compensated(self, request: MarkCompensatedInput) -> None:
        changed = await asyncio.to_thread(
            self._withdrawals.mark_compensated,
            request.workflow_id,
            request.attempts,
            request.task_id,
            request.operator,
        )
        if changed:
            self._metrics.compensated_by_operator()

    def all(self) -> list[Callable[..., Any]]:
        return [self.open_operator_task, self.notify_customer, self.mark_compensated]
