"""Brokerage (DriveWealth) paths through the real stack, after the bank has paid out: the token
or the redemption failing (compensation by reversal), 401/timeouts handled without redeeming
twice, and a reversal that fails too (operator task). docs/api.md."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.integration._paths import (
    START_CASH,
    USER,
    Started,
    calls,
    confirm,
    finalize,
    finalize_answered,
    money,
    otp_of,
    problem,
    start,
    status,
    statuses,
    task_for,
    wait_terminal,
)
from tests.integration.conftest import Stack
from withdraw_service.domain.outcomes import (
    CheckerStatus,
    CompensationStatus,
    FailureCode,
    ProblemCode,
    TaskKind,
    TaskState,
)
from withdraw_service.domain.reasons import CUSTOMER_REASONS
from withdraw_service.domain.statuses import WithdrawStatus as S


async def _finalize_and_wait(stack: Stack, started: Started) -> dict[str, Any]:
    state, _ = await _finalize_answer_and_wait(stack, started)
    return state


async def _finalize_answer_and_wait(
    stack: Stack, started: Started
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Finalize with the right OTP; answer the end state (GET status) and the state finalize
    answered, which must be the one docs/api.md gives for that end (`finalize_answered`)."""
    response, state = await confirm(stack, started)
    return state, finalize_answered(response, state)


async def test_dw_token_failing_after_the_debit_is_compensated(stack: Stack) -> None:
    started = await start(stack)
    await asyncio.sleep(1.5)  # the worker's cached DW token (2 s TTL) is now due for refresh
    before = await calls(stack, "drivewealth.token")
    await stack.fault("drivewealth", "token", "error_500", times=3)

    state, answered = await _finalize_answer_and_wait(stack, started)

    assert state["status"] == S.COMPENSATED
    assert state["failureCode"] == FailureCode.DW_TOKEN_FAILED
    # What finalize answered (in the 422's `withdrawal`), equal to GET status after the end:
    # see also test_status_keeps_the_compensation_after_the_end.
    assert answered["compensation"]["status"] == CompensationStatus.SUCCEEDED
    assert S.COMPENSATING in statuses(state)
    assert await calls(stack, "drivewealth.token") >= before + 3
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.REVERSED]
    assert ledger.reversal_statuses == [CheckerStatus.SUCCESS]
    assert ledger.redemptions == []
    assert ledger.calls("drivewealth.redemption") == 0
    assert ledger.cash() == START_CASH


async def test_dw_rejecting_the_redemption_is_compensated(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "reject")

    state, answered = await _finalize_answer_and_wait(stack, started)

    assert state["status"] == S.COMPENSATED
    assert state["failureCode"] == FailureCode.DW_REDEMPTION_FAILED
    assert answered["compensation"]["status"] == CompensationStatus.SUCCEEDED
    assert state["dwRedemptionId"] is None
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.REVERSED]
    assert ledger.reversal_statuses == [CheckerStatus.SUCCESS]
    assert ledger.reversals[0]["amount"] == "150.00"
    assert ledger.redemptions == []
    assert ledger.calls("drivewealth.redemption") == 1  # a refusal is not retried
    assert ledger.cash() == START_CASH

    # The customer reads a fixed sentence; an operator reads what DriveWealth said.
    assert state["failureReason"] == CUSTOMER_REASONS[FailureCode.DW_REDEMPTION_FAILED]
    assert answered["failureReason"] == state["failureReason"]
    found = await stack.api.get(
        "/ops/withdrawals",
        params={"correlationId": started.correlation_id},
        headers=stack.ops_auth("ops-alice"),
    )
    (seen,) = found.json()["data"]["items"]
    assert seen["failureReason"] and seen["failureReason"] != state["failureReason"], seen
    # The compensation child's id is no withdrawal (it once answered a 500).
    for caller in (stack.auth(USER), stack.auth("user-1002")):
        child = await stack.api.get(
            f"/withdraw/status/{started.workflow_id}-compensation", headers=caller
        )
        problem(child, 404, "NOT_FOUND")


async def test_redemption_401_refreshes_the_token_once_and_completes(stack: Stack) -> None:
    started = await start(stack)
    tokens_before = await calls(stack, "drivewealth.token")
    await stack.fault("drivewealth", "redemption", "unauthorized_401", times=1)

    state = await _finalize_and_wait(stack, started)

    assert state["status"] == S.COMPLETED
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]
    assert [r["id"] for r in ledger.redemptions] == [state["dwRedemptionId"]]
    assert ledger.calls("drivewealth.redemption") == 2  # refused once, then done
    # One refresh for the 401 (plus at most one for the cache's own expiry on the way).
    assert 1 <= ledger.calls("drivewealth.token") - tokens_before <= 2
    assert ledger.reversals == []
    assert ledger.cash() == START_CASH - 150


async def test_redemption_timeout_after_commit_is_retried_with_the_same_key(
    stack: Stack,
) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "timeout_after_commit", times=1)

    state = await _finalize_and_wait(stack, started)

    assert state["status"] == S.COMPLETED
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]
    assert [r["id"] for r in ledger.redemptions] == [state["dwRedemptionId"]]
    assert ledger.calls("drivewealth.redemption") == 2  # the retry replayed the first answer
    assert ledger.reversals == []
    assert ledger.cash() == START_CASH - 150  # debited once


async def test_redemption_timing_out_on_every_attempt_gets_a_second_look(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "timeout", times=3)

    state = await _finalize_and_wait(stack, started)

    assert state["status"] == S.COMPLETED
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]
    assert [r["id"] for r in ledger.redemptions] == [state["dwRedemptionId"]]
    assert ledger.calls("drivewealth.redemption") == 4  # 3 attempts + the second look
    assert ledger.reversals == []
    assert ledger.cash() == START_CASH - 150


async def test_reversal_failing_too_needs_manual_compensation(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    await stack.fault("transfer", "reverse", "error_500", times=10)

    state, answered = await _finalize_answer_and_wait(stack, started)

    assert state["status"] == S.MANUAL_COMPENSATION_REQUIRED
    assert state["failureCode"] == FailureCode.DW_REDEMPTION_FAILED
    compensation = answered["compensation"]
    assert compensation["status"] == CompensationStatus.FAILED
    assert compensation["taskId"]
    task = await task_for(stack, started.workflow_id, TaskKind.COMPENSATION_FAILED)
    assert task is not None
    assert task.state == TaskState.OPEN
    assert task.id == compensation["taskId"]
    assert task.correlation_id == started.correlation_id
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [
        CheckerStatus.SUCCESS
    ]  # the customer still holds the bank money
    assert ledger.redemptions == []
    assert ledger.reversals == []
    assert ledger.calls("transfer.reverse") == 4  # the rollbackTransfer policy's attempts
    assert ledger.cash() == START_CASH


@pytest.mark.parametrize("reverse_fails", [False, True], ids=["compensated", "manual"])
async def test_status_keeps_the_compensation_after_the_end(
    stack: Stack, reverse_fails: bool
) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    if reverse_fails:
        await stack.fault("transfer", "reverse", "error_500", times=10)

    state, answered = await _finalize_answer_and_wait(stack, started)

    assert answered["compensation"] is not None
    assert state["compensation"] == answered["compensation"]


async def test_cancel_after_the_otp_was_accepted_is_invalid_state(stack: Stack) -> None:
    """docs/api.md: cancel is allowed while AWAITING_OTP, otherwise 409 INVALID_STATE."""
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "timeout", times=2)  # ~3 s of redeeming
    otp = await otp_of(stack, started.authorisation_id)
    finalizing = asyncio.create_task(finalize(stack, started.workflow_id, otp))
    try:
        deadline = time.monotonic() + 10
        while (await status(stack, started.workflow_id))["status"] != S.CREATING_DW_REDEMPTION:
            assert time.monotonic() < deadline, "never reached CREATING_DW_REDEMPTION"
            await asyncio.sleep(0.1)

        refused = await stack.api.post(
            f"/withdraw/{started.workflow_id}/cancel", headers=stack.auth("user-1001")
        )
    finally:
        finalized = await finalizing

    assert finalized.status_code == 200, finalized.text
    state = await wait_terminal(stack, started.workflow_id)
    assert state["status"] == S.COMPLETED  # the cancel changed nothing
    problem(refused, 409, ProblemCode.INVALID_STATE)
