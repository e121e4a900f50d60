"""OTP branches of WithdrawWorkflow: the `submitOtp` update, its validator, wrong codes and
the attempt budget, and the OTP window (a durable timer, skipped by the test server).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.support.fake_activities import GOOD_OTP, FakeActivities
from tests.support.gated_activities import GatedFakes
from tests.support.workflow_asserts import assert_every_transition_saved, refusal_type, statuses
from tests.support.workflow_runs import Handle, withdrawal
from withdraw_service.activities.models import (
    FinalizeTransferInput,
    FinalizeTransferResult,
)
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.workflows.models import OtpResult, OtpSubmission, OtpVerdict, WithdrawInput
from withdraw_service.workflows.withdraw import WithdrawWorkflow

WRONG_OTP = "987650"


async def submit(handle: Handle, code: str) -> OtpResult:
    return await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=code))


@dataclass
class SlowAndGatedFakes(GatedFakes):
    """finalizeTransfer takes `delay` seconds of real time; one save can be held too."""

    delay: float = 0.0

    @activity.defn(name="finalizeTransfer")
    async def finalize_transfer(self, request: FinalizeTransferInput) -> FinalizeTransferResult:
        await asyncio.sleep(self.delay)
        return await super().finalize_transfer(request)


# -- wrong codes and the attempt budget ------------------------------------------------------


async def test_wrong_otp_answers_invalid_then_right_otp_completes(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """finalize says OTP_INVALID with attempts left -> INVALID, back to AWAITING_OTP; retry."""
    fakes = FakeActivities()
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        wrong = await submit(handle, WRONG_OTP)
        assert wrong.verdict == OtpVerdict.INVALID
        assert wrong.attempts_remaining == 2
        assert wrong.state.status == S.AWAITING_OTP
        assert (await handle.query(WithdrawWorkflow.get_state)).status == S.AWAITING_OTP

        right = await submit(handle, GOOD_OTP)
        assert right.verdict == OtpVerdict.ACCEPTED
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert final.failure_code is None
    assert statuses(final) == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.TRANSFER_COMPLETED,
        S.CREATING_DW_REDEMPTION,
        S.COMPLETED,
    ]
    corr = withdraw_input.correlation_id
    assert fakes.keys == [
        f"{corr}:initiate",
        f"{corr}:finalize-1",
        f"{corr}:finalize-2",
        f"{corr}:redemption",
    ]
    assert_every_transition_saved(fakes, final)


async def test_three_wrong_otps_end_otp_rejected(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """Attempts used up -> the last answer is EXPIRED and the withdrawal ends OTP_REJECTED."""
    fakes = FakeActivities()
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        answers = [await submit(handle, WRONG_OTP) for _ in range(3)]
        final = await handle.result()

    assert [(a.verdict, a.attempts_remaining) for a in answers] == [
        (OtpVerdict.INVALID, 2),
        (OtpVerdict.INVALID, 1),
        (OtpVerdict.EXPIRED, 0),
    ]
    assert final.status == S.OTP_REJECTED
    assert final.failure_code == "OTP_REJECTED"
    assert statuses(final) == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.OTP_REJECTED,
    ]
    corr = withdraw_input.correlation_id
    assert [k for k in fakes.keys if ":finalize-" in k] == [
        f"{corr}:finalize-1",
        f"{corr}:finalize-2",
        f"{corr}:finalize-3",
    ]
    for step in ("getDwToken", "createDwRedemption", "rollbackTransfer"):
        assert step not in fakes.calls
    assert_every_transition_saved(fakes, final)


@dataclass
class BankCountingFakes(FakeActivities):
    """The bank answers its own attemptsRemaining with every wrong code."""

    bank_says: int = 5

    @activity.defn(name="finalizeTransfer")
    async def finalize_transfer(self, request: FinalizeTransferInput) -> FinalizeTransferResult:
        result = await super().finalize_transfer(request)
        if result.outcome == "OTP_INVALID":
            return result.model_copy(update={"attempts_remaining": self.bank_says})
        return result


@pytest.mark.parametrize(
    ("bank_says", "expected"),
    [
        # A bank offering more than WITHDRAW_OTP_MAX_ATTEMPTS (3) does not raise it: this
        # once gave a stolen token as many guesses as the bank allowed.
        (5, [(OtpVerdict.INVALID, 2), (OtpVerdict.INVALID, 1), (OtpVerdict.EXPIRED, 0)]),
        # A bank allowing fewer ends it sooner.
        (0, [(OtpVerdict.EXPIRED, 0)]),
    ],
)
async def test_the_banks_attempt_count_only_lowers_ours(
    client: Client,
    task_queue: str,
    withdraw_input: WithdrawInput,
    bank_says: int,
    expected: list[tuple[OtpVerdict, int]],
) -> None:
    fakes = BankCountingFakes(bank_says=bank_says)
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        answers = [await submit(handle, WRONG_OTP) for _ in expected]
        final = await handle.result()
    assert [(a.verdict, a.attempts_remaining) for a in answers] == expected
    assert final.status == S.OTP_REJECTED
    assert len([k for k in fakes.keys if ":finalize-" in k]) == len(expected)


# -- the update validator --------------------------------------------------------------------


async def test_malformed_otp_is_rejected_by_the_validator_and_leaves_no_trace(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """An OTP that is not 6 ASCII digits -> VALIDATION_ERROR; no attempt spent, no history."""
    fakes = FakeActivities()
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        fullwidth = "\uff11\uff12\uff13\uff14\uff15\uff16"  # digits, but not ASCII ones
        for bad in ("12345", "1234567", "12a456", "", fullwidth):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await submit(handle, bad)
            assert refusal_type(refused.value) == "VALIDATION_ERROR", bad

        state = await handle.query(WithdrawWorkflow.get_state)
        assert state.status == S.AWAITING_OTP
        assert statuses(state) == [S.INITIATED, S.AWAITING_OTP]
        assert "finalizeTransfer" not in fakes.calls

        # Still the full budget: the first wrong code leaves 2 of 3.
        wrong = await submit(handle, WRONG_OTP)
        assert (wrong.verdict, wrong.attempts_remaining) == (OtpVerdict.INVALID, 2)
        assert (await submit(handle, GOOD_OTP)).verdict == OtpVerdict.ACCEPTED
        final = await handle.result()
        history = await handle.fetch_history()

    assert final.status == S.COMPLETED
    accepted = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 3  # initiate + the two well-formed OTPs; rejections left nothing
    assert_every_transition_saved(fakes, final)


async def test_otp_before_the_transfer_is_initiated_is_invalid_state(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """OTP while still INITIATED (initiateTransfer running) -> INVALID_STATE, nothing changes."""
    fakes = GatedFakes(hold="initiateTransfer")
    async with withdrawal(client, task_queue, fakes, withdraw_input, initiated=False) as handle:
        await asyncio.wait_for(fakes.entered.wait(), 10)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await submit(handle, GOOD_OTP)
        assert refusal_type(refused.value) == "INVALID_STATE"
        assert (await handle.query(WithdrawWorkflow.get_state)).status == S.INITIATED

        fakes.release.set()
        initiated = await handle.execute_update(WithdrawWorkflow.initiate)
        assert initiated.status == S.AWAITING_OTP
        assert "finalizeTransfer" not in fakes.calls
        assert (await submit(handle, GOOD_OTP)).verdict == OtpVerdict.ACCEPTED
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert fakes.calls.count("finalizeTransfer") == 1
    assert_every_transition_saved(fakes, final)


async def test_second_otp_while_finalizing_is_invalid_state(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """An OTP while the previous one is being finalized -> INVALID_STATE; one finalize only."""
    fakes = GatedFakes(hold="finalizeTransfer")
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        first = await handle.start_update(
            WithdrawWorkflow.submit_otp,
            OtpSubmission(otp_code=GOOD_OTP),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await asyncio.wait_for(fakes.entered.wait(), 10)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await submit(handle, WRONG_OTP)
        assert refusal_type(refused.value) == "INVALID_STATE"

        fakes.release.set()
        assert (await first.result()).verdict == OtpVerdict.ACCEPTED
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert fakes.keys.count(f"{withdraw_input.correlation_id}:finalize-1") == 1
    assert fakes.calls.count("finalizeTransfer") == 1
    assert_every_transition_saved(fakes, final)


async def test_otp_after_completion_is_refused_and_changes_nothing(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """OTP after the withdrawal ended -> refused (INVALID_STATE, or the workflow is closed)."""
    fakes = FakeActivities()
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        await submit(handle, GOOD_OTP)
        final = await handle.result()
        calls, saved = list(fakes.calls), len(fakes.saved)

        with pytest.raises((WorkflowUpdateFailedError, RPCError)) as refused:
            await submit(handle, GOOD_OTP)
        if isinstance(refused.value, WorkflowUpdateFailedError):
            assert refusal_type(refused.value) == "INVALID_STATE"
        after = await handle.query(WithdrawWorkflow.get_state)

    assert final.status == S.COMPLETED
    assert after == final
    assert fakes.calls == calls
    assert len(fakes.saved) == saved


# -- the OTP window --------------------------------------------------------------------------


async def test_no_otp_within_the_window_ends_otp_timeout(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """No OTP before otp_timeout_seconds -> OTP_TIMEOUT; nothing finalized or debited."""
    fakes = FakeActivities()
    request = withdraw_input.model_copy(update={"otp_timeout_seconds": 300})
    async with withdrawal(client, task_queue, fakes, request) as handle:
        final = await handle.result()  # the time-skipping server jumps to the deadline

    assert final.status == S.OTP_TIMEOUT
    assert final.failure_code == "OTP_TIMEOUT"
    assert statuses(final) == [S.INITIATED, S.AWAITING_OTP, S.OTP_TIMEOUT]
    assert final.history[-1].at - final.history[1].at >= timedelta(seconds=300)
    assert fakes.calls == ["validateUser", "checkRestrictions", "initiateTransfer"]
    assert_every_transition_saved(fakes, final)


async def test_wrong_otp_does_not_extend_the_window(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """A wrong code, then silence -> OTP_TIMEOUT at the original deadline, not a fresh one."""
    fakes = FakeActivities()
    request = withdraw_input.model_copy(update={"otp_timeout_seconds": 300})
    async with withdrawal(client, task_queue, fakes, request) as handle:
        assert (await submit(handle, WRONG_OTP)).verdict == OtpVerdict.INVALID
        final = await handle.result()

    assert final.status == S.OTP_TIMEOUT
    assert statuses(final) == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.AWAITING_OTP,
        S.OTP_TIMEOUT,
    ]
    assert final.otp_expires_at is not None
    window_opened = final.history[1].at
    assert final.otp_expires_at == window_opened + timedelta(seconds=300)
    assert final.history[-1].at - window_opened < timedelta(seconds=310)
    assert fakes.calls.count("finalizeTransfer") == 1
    assert "getDwToken" not in fakes.calls
    assert_every_transition_saved(fakes, final)


async def test_window_over_while_a_wrong_otp_is_finalized_ends_otp_timeout(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """Deadline passes during finalize of a wrong code -> INVALID answered, then OTP_TIMEOUT
    without waiting again (the `remaining <= 0` branch)."""
    fakes = SlowAndGatedFakes(delay=1.5)
    request = withdraw_input.model_copy(update={"otp_timeout_seconds": 1})
    async with withdrawal(client, task_queue, fakes, request) as handle:
        wrong = await submit(handle, WRONG_OTP)
        final = await handle.result()

    assert (wrong.verdict, wrong.attempts_remaining) == (OtpVerdict.INVALID, 2)
    assert final.status == S.OTP_TIMEOUT
    assert statuses(final) == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.AWAITING_OTP,
        S.OTP_TIMEOUT,
    ]
    assert fakes.calls.count("finalizeTransfer") == 1
    assert_every_transition_saved(fakes, final)


async def test_otp_arriving_while_the_timeout_is_saved_is_refused_otp_expired(
    env: WorkflowEnvironment, client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """OTP in the instant the window closed (OTP_TIMEOUT being saved, status still
    AWAITING_OTP) -> refused OTP_EXPIRED by the validator; the withdrawal still closes."""
    fakes = GatedFakes(hold=S.OTP_TIMEOUT.value)
    request = withdraw_input.model_copy(update={"otp_timeout_seconds": 300})
    async with withdrawal(client, task_queue, fakes, request) as handle:
        await env.sleep(300)  # the window's timer fires; saving OTP_TIMEOUT is held
        await asyncio.wait_for(fakes.entered.wait(), 10)
        assert (await handle.query(WithdrawWorkflow.get_state)).status == S.AWAITING_OTP
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(submit(handle, GOOD_OTP), 10)  # never left unanswered
        assert refusal_type(refused.value) == "OTP_EXPIRED"
        fakes.release.set()
        final = await handle.result()

    assert final.status == S.OTP_TIMEOUT
    assert statuses(final) == [S.INITIATED, S.AWAITING_OTP, S.OTP_TIMEOUT]
    assert "finalizeTransfer" not in fakes.calls
    assert_every_transition_saved(fakes, final)


async def test_wrong_otp_answered_after_the_window_then_retry_is_otp_expired(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """Window over while a wrong code is finalized, OTP_TIMEOUT being saved: a retry of the
    code is refused OTP_EXPIRED, never accepted and left unanswered."""
    fakes = SlowAndGatedFakes(delay=1.5, hold=S.OTP_TIMEOUT.value)
    request = withdraw_input.model_copy(update={"otp_timeout_seconds": 1})
    async with withdrawal(client, task_queue, fakes, request) as handle:
        wrong = await submit(handle, WRONG_OTP)
        assert wrong.verdict == OtpVerdict.INVALID
        await asyncio.wait_for(fakes.entered.wait(), 10)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(submit(handle, GOOD_OTP), 10)  # never left unanswered
        assert refusal_type(refused.value) == "OTP_EXPIRED"
        fakes.release.set()
        final = await handle.result()

    assert final.status == S.OTP_TIMEOUT
    assert fakes.calls.count("finalizeTransfer") == 1
    assert_every_transition_saved(fakes, final)


# -- one update from the code to the receipt ------------------------------------------------


async def test_an_accepted_code_can_wait_for_the_receipt_in_the_same_update(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """`until_receipt`: a wrong code is answered at once; the right one once the withdrawal
    has its receipt (COMPLETED here), with that state."""

    async def submit_until_receipt(handle: Handle, code: str) -> OtpResult:
        return await handle.execute_update(
            WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=code, until_receipt=True)
        )

    async with withdrawal(client, task_queue, FakeActivities(), withdraw_input) as handle:
        wrong = await submit_until_receipt(handle, WRONG_OTP)
        assert (wrong.verdict, wrong.receipt) == (OtpVerdict.INVALID, False)
        assert wrong.state.status == S.AWAITING_OTP

        right = await submit_until_receipt(handle, GOOD_OTP)
        final = await handle.result()
    assert (right.verdict, right.receipt) == (OtpVerdict.ACCEPTED, True)
    assert right.state.status == S.COMPLETED
    assert right.state == final


async def test_an_accepted_code_without_until_receipt_is_answered_at_once(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """What an API from before `until_receipt` asks: the verdict as soon as the code is
    taken, the receipt by `awaitReceipt` after it."""
    async with withdrawal(client, task_queue, FakeActivities(), withdraw_input) as handle:
        right = await submit(handle, GOOD_OTP)
        receipt = await handle.execute_update(WithdrawWorkflow.await_receipt)
        final = await handle.result()
    assert (right.verdict, right.receipt) == (OtpVerdict.ACCEPTED, False)
    assert right.state.status in (S.FINALIZING_TRANSFER, S.TRANSFER_COMPLETED)
    assert receipt == final and final.status == S.COMPLETED
