"""The reconciliation activity (`withdraw_service.reconciliation`), run by ReconcileWorkflow on
the daily Schedule. Not a step of a withdrawal: it reads the bank's and DriveWealth's records
and opens operator tasks, and moves no money.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from withdraw_service.domain.outcomes import MismatchKind
from withdraw_service.reconciliation import Reconciler

RECONCILE = "reconcile"  # the activity's registered name


def heartbeat() -> None:
    """The run's progress, when it runs as the activity (the command runs it outside one)."""
    if activity.in_activity():
        activity.heartbeat()


class ReconcileInput(BaseModel):
    since: datetime
    until: datetime


class MismatchView(BaseModel):
    kind: MismatchKind
    correlation_id: str
    detail: str  # never an account number or a redemption id
    workflow_id: str | None = None


class ReconcileResult(BaseModel):
    checked: int
    skipped: int
    opened: int
    mismatches: list[MismatchView]


class ReconciliationActivities:
    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler

    @activity.defn(name=RECONCILE)
    async def reconcile(self, request: ReconcileInput) -> ReconcileResult:
        report = await self._reconciler.run(request.since, request.until)
        return ReconcileResult(
            checked=report.checked,
            skipped=report.skipped,
            opened=report.opened,
            mismatches=[
                MismatchView(
                    kind=m.kind,
                    correlation_id=m.correlation_id,
                    detail=m.detail,
                    workflow_id=m.workflow_id,
                )
                for m in report.mismatches
            ],
        )

    def all(self) -> list[Callable[..., Any]]:
        return [self.reconcile]
