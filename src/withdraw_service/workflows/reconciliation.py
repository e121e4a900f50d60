"""ReconcileWorkflow: one reconciliation run over the last `window_days` days, started daily by
the `withdraw-reconciliation` Schedule (`withdraw_service.schedules`).

Deterministic: its only clock is the SDK's.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from withdraw_service.activities.reconciliation import (
        ReconcileInput,
        ReconcileResult,
        ReconciliationActivities,
    )

RECONCILE_WORKFLOW = "ReconcileWorkflow"


class ReconcileRequest(BaseModel):
    window_days: int = Field(default=7, gt=0)


@workflow.defn(name=RECONCILE_WORKFLOW)
class ReconcileWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileResult:
        until = workflow.now()
        # An upstream that cannot be read fails an attempt: nothing is concluded from what
        # could not be seen. Tried again for about an hour, then the run fails (the next
        # day's run covers the same withdrawals).
        return await workflow.execute_activity_method(
            ReconciliationActivities.reconcile,
            ReconcileInput(since=until - timedelta(days=request.window_days), until=until),
            start_to_close_timeout=timedelta(minutes=30),
            # It beats with every withdrawal compared: a stuck run is retried in minutes.
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(minutes=1),
                maximum_interval=timedelta(minutes=15),
                maximum_attempts=6,
            ),
        )
