"""OTP paths through the real stack: wrong codes, used-up attempts, the OTP window running out,
and what a finalize answers afterwards (docs/api.md, PUT /withdraw/finalize)."""

from __future__ import annotations

import time

from tests.integration._paths import (
    AMOUNT,
    START_CASH,
    finalize,
    money,
    otp_of,
    problem,
    start,
    status,
    wait_terminal,
    wrong,
)
from tests.integration.conftest import Stack
from withdraw_service.domain.outcomes import CheckerStatus, FailureCode, ProblemCode
from withdraw_service.domain.statuses import WithdrawStatus as S


async def test_wrong_otp_then_right_one_completes(stack: Stack) -> None:
    started = await start(stack)
    otp = await otp_of(stack, started.authorisation_id)

    body = problem(
        await finalize(stack, started.workflow_id, wrong(otp)), 422, ProblemCode.OTP_INVALID
    )
    assert body["attemptsRemaining"] == 2
    assert otp not in str(body)  # never echo the code
    assert (await status(stack, started.workflow_id))["status"] == S.AWAITING_OTP

    finalized = await finalize(stack, started.workflow_id, otp)
    assert finalized.status_code == 200, finalized.text
    receipt = finalized.json()["data"]
    assert receipt["status"] == S.COMPLETED

    state = await wait_terminal(stack, started.workflow_id)
    assert state["status"] == S.COMPLETED
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]
    assert [r["id"] for r in ledger.redemptions] == [receipt["dwRedemptionId"]]
    assert ledger.cash() == START_CASH - 150


async def test_three_wrong_otps_end_the_withdrawal_otp_rejected(stack: Stack) -> None:
    started = await start(stack)
    bad = wrong(await otp_of(stack, started.authorisation_id))

    first = problem(await finalize(stack, started.workflow_id, bad), 422, ProblemCode.OTP_INVALID)
    assert first["attemptsRemaining"] == 2
    second = problem(await finalize(stack, started.workflow_id, bad), 422, ProblemCode.OTP_INVALID)
    assert second["attemptsRemaining"] == 1
    problem(await finalize(stack, started.workflow_id, bad), 410, ProblemCode.OTP_EXPIRED)

    state = await wait_terminal(stack, started.workflow_id)
    assert state["status"] == S.OTP_REJECTED
    # The simulated bank answers the third wrong code 410 AUTHORISATION_EXPIRED ("too many
    # wrong OTP codes"), and an expired authorisation is OTP_EXPIRED (docs/api.md, failure
    # codes); a bank that answered OTP_INVALID with no attempts left would give OTP_REJECTED.
    assert state["failureCode"] == FailureCode.OTP_EXPIRED
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.FAILED]
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH
    # A fourth code, even the right one, changes nothing: the attempts are used up (410).
    late = await finalize(stack, started.workflow_id, await otp_of(stack, started.authorisation_id))
    problem(late, 410, ProblemCode.OTP_EXPIRED)
    assert (await status(stack, started.workflow_id))["status"] == S.OTP_REJECTED


async def test_no_otp_within_the_window_ends_otp_timeout(stack: Stack) -> None:
    async with stack.api_with(otp_timeout_seconds=2) as api:
        started = await start(stack, api=api)
        otp = await otp_of(stack, started.authorisation_id)
        begun = time.monotonic()

        state = await wait_terminal(stack, started.workflow_id, within=10, api=api)

        assert state["status"] == S.OTP_TIMEOUT
        assert state["failureCode"] == FailureCode.OTP_TIMEOUT
        assert time.monotonic() - begun < 10
        # The window is over: 410 OTP_EXPIRED, not 409 INVALID_STATE (docs/api.md).
        late = await finalize(stack, started.workflow_id, otp, api=api)
        problem(late, 410, ProblemCode.OTP_EXPIRED)
        assert (await status(stack, started.workflow_id, api=api))["status"] == S.OTP_TIMEOUT

    ledger = await money(stack, started.correlation_id)
    # The bank authorised the transfer and was never asked to debit it.
    assert ledger.transfer_statuses == [CheckerStatus.INITIATED]
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.transfers[0]["amount"] == AMOUNT
    assert ledger.cash() == START_CASH
