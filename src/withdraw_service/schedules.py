"""The Temporal Schedule of reconciliation: `withdraw-reconciliation`, created by the worker at
start when it does not exist yet (a Schedule someone changed by hand is left as it is).

    await ensure_reconciliation_schedule(client, settings)
"""

from __future__ import annotations

import logging

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from withdraw_service.settings import Settings
from withdraw_service.workflows.reconciliation import ReconcileRequest, ReconcileWorkflow

log = logging.getLogger(__name__)

RECONCILIATION_SCHEDULE = "withdraw-reconciliation"


def reconciliation_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run,
            ReconcileRequest(window_days=settings.reconcile_window_days),
            id="withdraw-reconciliation-run",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[settings.reconcile_cron]),
        # A run still going when the next is due: the next waits, never two at once.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE),
    )


async def ensure_reconciliation_schedule(client: Client, settings: Settings) -> bool:
    """Create the Schedule unless it exists; True when this call created it."""
    try:
        await client.create_schedule(RECONCILIATION_SCHEDULE, reconciliation_schedule(settings))
    except ScheduleAlreadyRunningError:
        return False
    log.info(
        "schedule %s created: reconciliation at cron %r over %d days",
        RECONCILIATION_SCHEDULE,
        settings.reconcile_cron,
        settings.reconcile_window_days,
    )
    return True
