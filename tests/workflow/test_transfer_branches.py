"""finalizeTransfer branches of WithdrawWorkflow: definite refusals (nothing debited, nothing
to undo) and an unknown outcome, resolved by asking the Transfer Checker every 30 s (the
time-skipping server makes those sleeps instant) but never by sending the transfer again.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from tests.support.fake_activities import GOOD_OTP, FakeActivities
from tests.support.workflow_asserts import assert_every_transition_saved, statuses
from tests.support.workflow_runs import withdrawal
from withdraw_service.activities.models import (
    FinalizeOutcome,
    FinalizeTransferInput,
    FinalizeTransferResult,
    VerifyTransferStatusInput,
    VerifyTransferStatusResult,
)
from withdraw_service.domain.outcomes import FailureType
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.workflows.models import OtpSubmission, OtpVerdict, WithdrawInput
from withdraw_service.workflows.withdraw import WithdrawWorkflow

UNTIL_FINALIZE = [S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER]


def assert_nothing_redeemed_or_reversed(fakes: FakeActivities) -> None:
    for step in ("getDwToken", "createDwRedemption", "rollbackTransfer"):
        assert step not in fakes.calls


@dataclass
class FlakyCheckerFakes(FakeActivities):
    """verifyTransferStatus fails outright (non-retryable) `failures` times before answering."""

    failures: int = 0

    @activity.defn(name="verifyTransferStatus")
    async def verify_transfer_status(
        self, request: VerifyTransferStatusInput
    ) -> VerifyTransferStatusResult:
        if self.failures > 0:
            self.failures -= 1
            self.calls.append("verifyTransferStatus")
            raise ApplicationError("checker down", type="UpstreamUnavailable", non_retryable=True)
        return await super().verify_transfer_status(request)


@dataclass
class RefusingFinalizeFakes(FakeActivities):
    """finalizeTransfer fails with a non-retryable error that is not the 'unknown' one."""

    @activity.defn(name="finalizeTransfer")
    async def finalize_transfer(self, request: FinalizeTransferInput) -> FinalizeTransferResult:
        self.calls.append("finalizeTransfer")
        self.keys.append(request.idempotency_key)
        raise ApplicationError(
            "bank refused the request", type="UpstreamUnavailable", non_retryable=True
        )


# -- definite outcomes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "status", "code", "verdict"),
    [
        (FinalizeOutcome.REJECTED, S.TRANSFER_REJECTED, "TRANSFER_REJECTED", OtpVerdict.ACCEPTED),
        (FinalizeOutcome.FAILED, S.TRANSFER_FAILED, "TRANSFER_FAILED", OtpVerdict.ACCEPTED),
        (
            FinalizeOutcome.AUTHORISATION_EXPIRED,
            S.OTP_REJECTED,
            "OTP_EXPIRED",
            OtpVerdict.EXPIRED,
        ),
    ],
    ids=["rejected", "failed", "authorisation-expired"],
)
async def test_finalize_refusal_ends_without_debit(
    client: Client,
    task_queue: str,
    withdraw_input: WithdrawInput,
    outcome: FinalizeOutcome,
    status: S,
    code: str,
    verdict: OtpVerdict,
) -> None:
    """finalize answers REJECTED / FAILED / AUTHORISATION_EXPIRED -> terminal, no redemption,
    no compensation (the transfer was not debited)."""
    fakes = FakeActivities(finalize_outcomes=[outcome])
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        answer = await handle.execute_update(
            WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP)
        )
        final = await handle.result()

    assert answer.verdict == verdict
    assert final.status == status
    assert final.failure_code == code
    assert statuses(final) == [*UNTIL_FINALIZE, status]
    assert fakes.calls == [
        "validateUser",
        "checkRestrictions",
        "initiateTransfer",
        "finalizeTransfer",
    ]
    assert_nothing_redeemed_or_reversed(fakes)
    assert_every_transition_saved(fakes, final)


# -- unknown outcome: verification -----------------------------------------------------------


async def test_unknown_outcome_verified_success_continues_to_completed(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """finalize outcome unknown -> VERIFYING_TRANSFER; checker PENDING then SUCCESS ->
    TRANSFER_COMPLETED and on to the redemption, with one finalize call only."""
    fakes = FakeActivities(
        finalize_outcomes=[FailureType.TRANSFER_OUTCOME_UNKNOWN],
        verify_statuses=["PENDING", "SUCCESS"],
    )
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        answer = await handle.execute_update(
            WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP)
        )
        final = await handle.result()

    assert answer.verdict == OtpVerdict.ACCEPTED
    assert final.status == S.COMPLETED
    assert final.dw_redemption_id == "DWAA001001-R1"
    assert statuses(final) == [
        *UNTIL_FINALIZE,
        S.VERIFYING_TRANSFER,
        S.TRANSFER_COMPLETED,
        S.CREATING_DW_REDEMPTION,
        S.COMPLETED,
    ]
    assert fakes.calls.count("finalizeTransfer") == 1
    assert fakes.calls.count("verifyTransferStatus") == 2
    assert "rollbackTransfer" not in fakes.calls
    corr = withdraw_input.correlation_id
    assert fakes.keys == [f"{corr}:initiate", f"{corr}:finalize-1", f"{corr}:redemption"]
    assert_every_transition_saved(fakes, final)


async def test_unknown_outcome_verified_failed_ends_transfer_failed(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """finalize outcome unknown, checker says FAILED -> TRANSFER_FAILED, nothing to undo."""
    fakes = FakeActivities(
        finalize_outcomes=[FailureType.TRANSFER_OUTCOME_UNKNOWN], verify_statuses=["FAILED"]
    )
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()

    assert final.status == S.TRANSFER_FAILED
    assert final.failure_code == "TRANSFER_FAILED"
    assert statuses(final) == [*UNTIL_FINALIZE, S.VERIFYING_TRANSFER, S.TRANSFER_FAILED]
    assert fakes.calls.count("finalizeTransfer") == 1
    assert fakes.calls.count("verifyTransferStatus") == 1
    assert_nothing_redeemed_or_reversed(fakes)
    assert_every_transition_saved(fakes, final)


async def test_unknown_outcome_never_resolved_ends_manual_review_required(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """Checker says PENDING every time -> MANUAL_REVIEW_REQUIRED / TRANSFER_UNRESOLVED after
    exactly transferVerification.maxAttempts checks, `interval` apart."""
    verification = withdraw_input.policies.transfer_verification
    assert verification.max_attempts == 10
    fakes = FakeActivities(finalize_outcomes=[FailureType.TRANSFER_OUTCOME_UNKNOWN])
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()

    assert final.status == S.MANUAL_REVIEW_REQUIRED
    assert final.failure_code == "TRANSFER_UNRESOLVED"
    assert statuses(final) == [*UNTIL_FINALIZE, S.VERIFYING_TRANSFER, S.MANUAL_REVIEW_REQUIRED]
    assert fakes.calls.count("verifyTransferStatus") == verification.max_attempts
    assert fakes.calls.count("finalizeTransfer") == 1  # never re-sent
    assert [kind for kind, _ in fakes.tasks] == ["TRANSFER_UNRESOLVED"]
    assert fakes.tasks[0][1].startswith("TRF0000000001: ")
    verifying, ended = final.history[-2].at, final.history[-1].at
    assert ended - verifying >= verification.interval * verification.max_attempts
    assert_nothing_redeemed_or_reversed(fakes)
    assert_every_transition_saved(fakes, final)


async def test_checker_errors_count_as_attempts_then_success_completes(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """verifyTransferStatus itself fails -> that check is skipped (not fatal); a later SUCCESS
    still completes the withdrawal."""
    fakes = FlakyCheckerFakes(
        failures=2,
        finalize_outcomes=[FailureType.TRANSFER_OUTCOME_UNKNOWN],
        verify_statuses=["SUCCESS"],
    )
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert fakes.calls.count("verifyTransferStatus") == 3
    assert S.VERIFYING_TRANSFER in statuses(final)
    assert_every_transition_saved(fakes, final)


async def test_any_finalize_activity_failure_is_treated_as_unknown_outcome(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """finalize fails with another error type (an upstream refusal) -> still VERIFYING_TRANSFER
    (the debit may have happened), never re-sent; the OTP answer is ACCEPTED meanwhile."""
    fakes = RefusingFinalizeFakes(verify_statuses=["SUCCESS"])
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        answer = await handle.execute_update(
            WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP)
        )
        final = await handle.result()

    assert answer.verdict == OtpVerdict.ACCEPTED
    assert final.status == S.COMPLETED
    assert statuses(final)[3:5] == [S.VERIFYING_TRANSFER, S.TRANSFER_COMPLETED]
    assert fakes.calls.count("finalizeTransfer") == 1
    assert_every_transition_saved(fakes, final)


# -- the bank never applied the confirmation: re-sent with the same key ----------------------


async def test_verified_initiated_resends_finalize_with_the_same_key_and_completes(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """finalize unknown, checker says INITIATED (never applied) -> finalize sent again with the
    same Idempotency-Key; SUCCESS -> TRANSFER_COMPLETED -> COMPLETED."""
    fakes = FakeActivities(
        finalize_outcomes=[FailureType.TRANSFER_OUTCOME_UNKNOWN], verify_statuses=["INITIATED"]
    )
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert statuses(final) == [
        *UNTIL_FINALIZE,
        S.VERIFYING_TRANSFER,
        S.TRANSFER_COMPLETED,
        S.CREATING_DW_REDEMPTION,
        S.COMPLETED,
    ]
    corr = withdraw_input.correlation_id
    assert fakes.keys == [
        f"{corr}:initiate",
        f"{corr}:finalize-1",
        f"{corr}:finalize-1",
        f"{corr}:redemption",
    ]
    assert fakes.calls.count("verifyTransferStatus") == 1
    assert_every_transition_saved(fakes, final)


@pytest.mark.parametrize(
    ("outcome", "status", "code"),
    [
        (FinalizeOutcome.REJECTED, S.TRANSFER_REJECTED, "TRANSFER_REJECTED"),
        (FinalizeOutcome.AUTHORISATION_EXPIRED, S.OTP_REJECTED, "OTP_EXPIRED"),
    ],
    ids=["rejected", "authorisation-expired"],
)
async def test_verified_initiated_resend_refused_ends_without_debit(
    client: Client,
    task_queue: str,
    withdraw_input: WithdrawInput,
    outcome: FinalizeOutcome,
    status: S,
    code: str,
) -> None:
    """INITIATED, and the re-sent finalize is refused -> that refusal's terminal status."""
    fakes = FakeActivities(
        finalize_outcomes=[FailureType.TRANSFER_OUTCOME_UNKNOWN, outcome],
        verify_statuses=["INITIATED"],
    )
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()

    assert final.status == status
    assert final.failure_code == code
    assert statuses(final) == [*UNTIL_FINALIZE, S.VERIFYING_TRANSFER, status]
    assert fakes.calls.count("finalizeTransfer") == 2
    assert_nothing_redeemed_or_reversed(fakes)
    assert_every_transition_saved(fakes, final)


async def test_verified_initiated_resend_unknown_keeps_checking(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """INITIATED, the re-send's outcome is unknown too -> next check; SUCCESS completes."""
    fakes = FakeActivities(
        finalize_outcomes=[
            FailureType.TRANSFER_OUTCOME_UNKNOWN,
            FailureType.TRANSFER_OUTCOME_UNKNOWN,
        ],
        verify_statuses=["INITIATED", "SUCCESS"],
    )
    async with withdrawal(client, task_queue, fakes, withdraw_input) as handle:
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()

    assert final.status == S.COMPLETED
    assert fakes.calls.count("finalizeTransfer") == 2
    assert fakes.calls.count("verifyTransferStatus") == 2
    assert statuses(final).count(S.TRANSFER_COMPLETED) == 1
    assert_every_transition_saved(fakes, final)
