"""The seed's happy path, step by step, on the time-skipping server."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from tests.support.fake_activities import GOOD_OTP, FakeActivities
from tests.support.workers import fake_worker
from withdraw_service.domain.policies import ActivityName as A
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.workflows.models import OtpResult, OtpSubmission, OtpVerdict, WithdrawInput
from withdraw_service.workflows.withdraw import WithdrawWorkflow


async def test_happy_path_completes_and_persists_every_transition(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    fakes = FakeActivities()
    async with fake_worker(client, task_queue, fakes):
        handle = await client.start_workflow(
            WithdrawWorkflow.run,
            withdraw_input,
            id=f"WITHDRAW-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        initiated = await handle.execute_update(WithdrawWorkflow.initiate)
        assert initiated.status == S.AWAITING_OTP
        assert initiated.authorisation_id == "auth-1"

        result: OtpResult = await handle.execute_update(
            WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP)
        )
        assert result.verdict == OtpVerdict.ACCEPTED
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert final.dw_redemption_id == "DWAA001001-R1"
    assert [h.status for h in final.history] == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.TRANSFER_COMPLETED,
        S.CREATING_DW_REDEMPTION,
        S.COMPLETED,
    ]
    assert fakes.calls == [
        A.VALIDATE_USER,
        A.CHECK_RESTRICTIONS,
        A.INITIATE_TRANSFER,
        A.FINALIZE_TRANSFER,
        A.GET_DW_TOKEN,
        A.CREATE_DW_REDEMPTION,
    ]
    # Every status was saved, each snapshot with its history so far.
    assert [s.status for s in fakes.saved] == [h.status for h in final.history]
    assert all(len(s.history) == i + 1 for i, s in enumerate(fakes.saved))
    # Money-moving steps carry keys derived from the withdrawal and the step.
    corr = withdraw_input.correlation_id
    assert fakes.keys == [f"{corr}:initiate", f"{corr}:finalize-1", f"{corr}:redemption"]
