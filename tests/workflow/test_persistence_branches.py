"""saveToDb in WithdrawWorkflow: a persistence failure never decides where the money goes.
When saveToDb exhausts its retries the workflow waits (1 s, 2 s, ... up to a minute; skipped
by the test server) and saves again, and the status only changes once it is saved.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from tests.support.fake_activities import GOOD_OTP, FakeActivities
from tests.support.workers import fake_worker
from withdraw_service.activities.models import SaveToDbInput
from withdraw_service.domain.policies import ActivityName as A
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.workflows.models import OtpSubmission, WithdrawInput
from withdraw_service.workflows.withdraw import WithdrawWorkflow


@dataclass
class FlakyDatabaseFakes(FakeActivities):
    """saveToDb fails outright `failures` times for one status before it works."""

    fail_status: S = S.COMPLETED
    failures: int = 0
    attempts: Counter[S] = field(default_factory=Counter)

    @activity.defn(name=A.SAVE_TO_DB)
    async def save_to_db(self, request: SaveToDbInput) -> None:
        status = request.state.status
        self.attempts[status] += 1
        if status == self.fail_status and self.attempts[status] <= self.failures:
            raise ApplicationError("database unavailable", non_retryable=True)
        await super().save_to_db(request)


@pytest.mark.parametrize("fail_status", [S.TRANSFER_COMPLETED, S.COMPLETED])
async def test_save_failures_after_the_debit_are_waited_out_not_fatal(
    client: Client, task_queue: str, withdraw_input: WithdrawInput, fail_status: S
) -> None:
    """saveToDb fails (as if its retries ran out) 3 times for a status after the debit -> the
    workflow saves again later and still completes; no compensation, each status saved once."""
    fakes = FlakyDatabaseFakes(fail_status=fail_status, failures=3)
    async with fake_worker(client, task_queue, fakes):
        handle = await client.start_workflow(
            WithdrawWorkflow.run,
            withdraw_input,
            id=f"WITHDRAW-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await handle.execute_update(WithdrawWorkflow.initiate)
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert final.failure_code is None
    assert fakes.attempts[fail_status] == 4  # three failed activities, then saved
    assert A.ROLLBACK_TRANSFER not in fakes.calls
    assert [s.status for s in fakes.saved] == [h.status for h in final.history]
