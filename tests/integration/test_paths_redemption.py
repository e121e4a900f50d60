"""Brokerage (DriveWealth) paths through the real stack, after the bank has paid out: the token
or the redemption failing (compensation by reversal), 401/timeouts handled without redeeming
twice, and a reversal that fails too (operator task). CONTRACT sections 4-6 and 8."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.integration._paths import (
    START_CASH,
    Started,
    calls,
    finalize,
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


async def _finalize_and_wait(stack: Stack, started: Started) -> dict[str, Any]:
    state, _ = await _finalize_answer_and_wait(stack, started)
    return state


async def _finalize_answer_and_wait(
    stack: Stack, started: Started
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Finalize with the right OTP; answer the end state (GET status) and what finalize
    answered. Every path here settles well within the API's 20 s wait: 200, never 202."""
    response = await finalize(
        stack, started.workflow_id, await otp_of(stack, started.authorisation_id)
    )
    assert response.status_code == 200, response.text
    answered: dict[str, Any] = response.json()["data"]
    state = await wait_terminal(stack, started.workflow_id)
    assert answered["status"] == state["status"], response.text
    return state, answered


async def test_dw_token_failing_after_the_debit_is_compensated(stack: Stack) -> None:
    started = await start(stack)
    await asyncio.sleep(1.5)  # the worker's cached DW token (2 s TTL) is now due for refresh
    before = await calls(stack, "drivewealth.token")
    await stack.fault("drivewealth", "token", "error_500", times=3)

    state, answered = await _finalize_answer_and_wait(stack, started)

    assert state["status"] == "COMPENSATED"
    assert state["failureCode"] == "DW_TOKEN_FAILED"
    # What finalize answered (the workflow's end state); GET status after the end loses it:
    # see test_status_keeps_the_compensation_after_the_end.
    assert answered["compensation"]["status"] == "SUCCEEDED"
    assert "COMPENSATING" in statuses(state)
    assert await calls(stack, "drivewealth.token") >= before + 3
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["REVERSED"]
    assert ledger.reversal_statuses == ["SUCCESS"]
    assert ledger.redemptions == []
    assert ledger.calls("drivewealth.redemption") == 0
    assert ledger.cash() == START_CASH


async def test_dw_rejecting_the_redemption_is_compensated(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "reject")

    state, answered = await _finalize_answer_and_wait(stack, started)

    assert state["status"] == "COMPENSATED"
    assert state["failureCode"] == "DW_REDEMPTION_FAILED"
    assert answered["compensation"]["status"] == "SUCCEEDED"
    assert state["dwRedemptionId"] is None
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["REVERSED"]
    assert ledger.reversal_statuses == ["SUCCESS"]
    assert ledger.reversals[0]["amount"] == "150.00"
    assert ledger.redemptions == []
    assert ledger.calls("drivewealth.redemption") == 1  # a refusal is not retried
    assert ledger.cash() == START_CASH


async def test_redemption_401_refreshes_the_token_once_and_completes(stack: Stack) -> None:
    started = await start(stack)
    tokens_before = await calls(stack, "drivewealth.token")
    await stack.fault("drivewealth", "redemption", "unauthorized_401", times=1)

    state = await _finalize_and_wait(stack, started)

    assert state["status"] == "COMPLETED"
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["SUCCESS"]
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

    assert state["status"] == "COMPLETED"
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["SUCCESS"]
    assert [r["id"] for r in ledger.redemptions] == [state["dwRedemptionId"]]
    assert ledger.calls("drivewealth.redemption") == 2  # the retry replayed the first answer
    assert ledger.reversals == []
    assert ledger.cash() == START_CASH - 150  # debited once


async def test_redemption_timing_out_on_every_attempt_gets_a_second_look(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "timeout", times=3)

    state = await _finalize_and_wait(stack, started)

    assert state["status"] == "COMPLETED"
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["SUCCESS"]
    assert [r["id"] for r in ledger.redemptions] == [state["dwRedemptionId"]]
    assert ledger.calls("drivewealth.redemption") == 4  # 3 attempts + the second look
    assert ledger.reversals == []
    assert ledger.cash() == START_CASH - 150


async def test_reversal_failing_too_needs_manual_compensation(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    await stack.fault("transfer", "reverse", "error_500", times=10)

    state, answered = await _finalize_answer_and_wait(stack, started)

    assert state["status"] == "MANUAL_COMPENSATION_REQUIRED"
    assert state["failureCode"] == "DW_REDEMPTION_FAILED"
    compensation = answered["compensation"]
    assert compensation["status"] == "FAILED"
    assert compensation["taskId"]
    task = await task_for(stack, started.workflow_id, "COMPENSATION_FAILED")
    assert task is not None
    assert task.state == "OPEN"
    assert task.id == compensation["taskId"]
    assert task.correlation_id == started.correlation_id
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["SUCCESS"]  # the customer still holds the bank money
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
    """CONTRACT section 4: cancel is allowed while AWAITING_OTP, otherwise 409 INVALID_STATE."""
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "timeout", times=2)  # ~3 s of redeeming
    otp = await otp_of(stack, started.authorisation_id)
    finalizing = asyncio.create_task(finalize(stack, started.workflow_id, otp))
    try:
        deadline = time.monotonic() + 10
        while (await status(stack, started.workflow_id))["status"] != "CREATING_DW_REDEMPTION":
            assert time.monotonic() < deadline, "never reached CREATING_DW_REDEMPTION"
            await asyncio.sleep(0.1)

        refused = await stack.api.post(
            f"/withdraw/{started.workflow_id}/cancel", headers=stack.auth("user-1001")
        )
    finally:
        finalized = await finalizing

    assert finalized.status_code == 200, finalized.text
    state = await wait_terminal(stack, started.workflow_id)
    assert state["status"] == "COMPLETED"  # the cancel changed nothing
    problem(refused, 409, "INVALID_STATE")
