"""The `cancel` update of WithdrawWorkflow: allowed only while AWAITING_OTP (nothing has been
debited), it ends the withdrawal CANCELLED; in any other state it is refused INVALID_STATE.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.service import RPCError

from tests.support.fake_activities import GOOD_OTP, FakeActivities
from tests.support.gated_activities import GatedFakes
from tests.support.workflow_asserts import assert_every_transition_saved, refusal_type, statuses
from tests.support.workflow_runs import withdrawal
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.workflows.models import OtpSubmission, OtpVerdict, WithdrawInput
from withdraw_service.workflows.withdraw import WithdrawWorkflow

NOT_DEBITED = ("getDwToken", "createDwRedemption", "rollbackTransfer")


async def test_cancel_while_awaiting_otp_ends_cancelled(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """cancel while AWAITING_OTP -> the update answers CANCELLED; nothing finalized."""
    fakes = FakeActivities()
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        answered = await handle.execute_update(WithdrawWorkflow.cancel)
        final = await handle.result()

    assert answered.status == S.CANCELLED
    assert final.status == S.CANCELLED
    assert final.failure_code == "CANCELLED"
    assert statuses(final) == [S.INITIATED, S.AWAITING_OTP, S.CANCELLED]
    assert fakes.calls == ["validateUser", "checkRestrictions", "initiateTransfer"]
    assert_every_transition_saved(fakes, final)


async def test_cancel_after_a_wrong_otp_ends_cancelled(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """Wrong OTP (back to AWAITING_OTP), then cancel -> CANCELLED; one finalize, no debit."""
    fakes = FakeActivities()
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        wrong = await handle.execute_update(
            WithdrawWorkflow.submit_otp, OtpSubmission(otp_code="987650")
        )
        assert wrong.verdict == OtpVerdict.INVALID
        await handle.execute_update(WithdrawWorkflow.cancel)
        final = await handle.result()

    assert final.status == S.CANCELLED
    assert statuses(final) == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.AWAITING_OTP,
        S.CANCELLED,
    ]
    assert fakes.calls.count("finalizeTransfer") == 1
    for step in NOT_DEBITED:
        assert step not in fakes.calls
    assert_every_transition_saved(fakes, final)


async def test_cancel_before_the_otp_is_sent_is_invalid_state(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """cancel while INITIATED (initiateTransfer running) -> INVALID_STATE; the withdrawal
    goes on to AWAITING_OTP untouched."""
    fakes = GatedFakes(hold="initiateTransfer")
    async with withdrawal(client, task_queue, fakes, withdraw_input, initiated=False) as handle:
        await asyncio.wait_for(fakes.entered.wait(), 10)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(WithdrawWorkflow.cancel)
        assert refusal_type(refused.value) == "INVALID_STATE"
        fakes.release.set()
        assert (await handle.execute_update(WithdrawWorkflow.initiate)).status == S.AWAITING_OTP
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert_every_transition_saved(fakes, final)


async def test_cancel_while_finalizing_is_invalid_state(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """cancel once the OTP is being finalized (money may move) -> INVALID_STATE; completes."""
    fakes = GatedFakes(hold="finalizeTransfer")
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        otp = await handle.start_update(
            WithdrawWorkflow.submit_otp,
            OtpSubmission(otp_code=GOOD_OTP),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await asyncio.wait_for(fakes.entered.wait(), 10)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(WithdrawWorkflow.cancel)
        assert refusal_type(refused.value) == "INVALID_STATE"
        fakes.release.set()
        assert (await otp.result()).verdict == OtpVerdict.ACCEPTED
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert S.CANCELLED not in statuses(final)
    assert_every_transition_saved(fakes, final)


async def test_otp_or_second_cancel_while_cancelling_is_invalid_state(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """While CANCELLED is being saved (status still AWAITING_OTP) an OTP or a second cancel
    -> INVALID_STATE; nothing is finalized."""
    fakes = GatedFakes(hold=S.CANCELLED.value)
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        cancel = await handle.start_update(
            WithdrawWorkflow.cancel, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await asyncio.wait_for(fakes.entered.wait(), 10)
        assert (await handle.query(WithdrawWorkflow.get_state)).status == S.AWAITING_OTP
        with pytest.raises(WorkflowUpdateFailedError) as otp_refused:
            await handle.execute_update(
                WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP)
            )
        with pytest.raises(WorkflowUpdateFailedError) as cancel_refused:
            await handle.execute_update(WithdrawWorkflow.cancel)
        fakes.release.set()
        assert (await cancel.result()).status == S.CANCELLED
        final = await handle.result()

    assert refusal_type(otp_refused.value) == "INVALID_STATE"
    assert refusal_type(cancel_refused.value) == "INVALID_STATE"
    assert final.status == S.CANCELLED
    assert "finalizeTransfer" not in fakes.calls
    assert_every_transition_saved(fakes, final)


async def test_cancel_after_completion_is_refused_and_changes_nothing(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """cancel after COMPLETED -> refused (INVALID_STATE, or the workflow is closed)."""
    fakes = FakeActivities()
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()
        saved = len(fakes.saved)
        with pytest.raises((WorkflowUpdateFailedError, RPCError)) as refused:
            await handle.execute_update(WithdrawWorkflow.cancel)
        if isinstance(refused.value, WorkflowUpdateFailedError):
            assert refusal_type(refused.value) == "INVALID_STATE"
        after = await handle.query(WithdrawWorkflow.get_state)

    assert final.status == S.COMPLETED
    assert after == final
    assert len(fakes.saved) == saved
