"""DriveWealth settling later, and answers that prove nothing, through the real stack
(simulators over HTTP, `/_sim/faults` and `/_sim/drivewealth/...`). docs/api.md.

The stack follows an unsettled redemption twice a second for 8 s (tests/integration/
conftest.py); the money rule is checked after every test.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.integration._paths import (
    START_CASH,
    Started,
    confirm,
    finalize,
    money,
    otp_of,
    start,
    statuses,
    task_for,
    wait_terminal,
)
from tests.integration.conftest import Stack
from withdraw_service.domain.outcomes import CheckerStatus, FailureCode, TaskKind, TaskState
from withdraw_service.domain.statuses import WithdrawStatus as S


async def _finalize(stack: Stack, started: Started) -> dict[str, Any]:
    """Finalize with the right OTP; the state it answered (200)."""
    response = await finalize(
        stack, started.workflow_id, await otp_of(stack, started.authorisation_id)
    )
    assert response.status_code == 200, response.text
    answered: dict[str, Any] = response.json()["data"]
    return answered


async def _settle(stack: Stack, redemption_id: str, status: str) -> None:
    response = await stack.sim.post(
        f"/_sim/drivewealth/redemptions/{redemption_id}/settle", json={"status": status}
    )
    assert response.status_code == 200, response.text


async def test_a_pending_redemption_answers_a_receipt_then_completes_when_settled(
    stack: Stack,
) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "accept_pending")

    receipt = await _finalize(stack, started)
    assert receipt["status"] == S.DW_REDEMPTION_PENDING
    assert receipt["dwRedemptionId"] and receipt["transferReferenceNumber"]
    await _settle(stack, receipt["dwRedemptionId"], "SUCCESSFUL")
    state = await wait_terminal(stack, started.workflow_id)

    assert state["status"] == S.COMPLETED
    assert statuses(state)[-2:] == [S.DW_REDEMPTION_PENDING, S.COMPLETED]
    ledger = await money(stack, started.correlation_id)
    assert [(r["id"], r["status"]) for r in ledger.redemptions] == [
        (receipt["dwRedemptionId"], "SUCCESSFUL")
    ]
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]
    assert ledger.cash() == START_CASH - 150


async def test_a_pending_redemption_that_fails_later_is_compensated(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "accept_pending")

    receipt = await _finalize(stack, started)
    await _settle(stack, receipt["dwRedemptionId"], "REJECTED")
    state = await wait_terminal(stack, started.workflow_id)

    assert state["status"] == S.COMPENSATED
    assert state["failureCode"] == FailureCode.DW_REDEMPTION_FAILED
    ledger = await money(stack, started.correlation_id)
    assert [r["status"] for r in ledger.redemptions] == ["REJECTED"]
    assert ledger.transfer_statuses == [CheckerStatus.REVERSED]
    assert ledger.cash() == START_CASH  # DriveWealth gave the cash back


async def test_a_redemption_failing_at_its_first_status_read_is_compensated(
    stack: Stack,
) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "fail_after_accept")

    response, state = await confirm(stack, started)

    # Accepted (a receipt), or already failed and reversed within the wait (422).
    assert response.status_code in (200, 422), response.text
    assert state["status"] == S.COMPENSATED
    assert S.DW_REDEMPTION_PENDING in statuses(state)
    ledger = await money(stack, started.correlation_id)
    assert [r["status"] for r in ledger.redemptions] == ["FAILED"]
    assert ledger.transfer_statuses == [CheckerStatus.REVERSED]
    assert ledger.cash() == START_CASH


async def test_a_redemption_never_settled_is_left_to_an_operator(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "accept_pending")

    receipt = await _finalize(stack, started)
    state = await wait_terminal(stack, started.workflow_id)

    assert state["status"] == S.MANUAL_REVIEW_REQUIRED
    assert state["failureCode"] == FailureCode.DW_SETTLEMENT_OVERDUE
    task = await task_for(stack, started.workflow_id, TaskKind.DW_SETTLEMENT_OVERDUE)
    assert task is not None and task.state == TaskState.OPEN
    assert receipt["dwRedemptionId"] in task.reason
    ledger = await money(stack, started.correlation_id)
    assert [r["status"] for r in ledger.redemptions] == ["PENDING"]
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]  # nothing reversed on a guess
    assert ledger.calls("drivewealth.redemption_status") >= 5


async def test_in_progress_answers_are_looked_at_again_not_reversed(stack: Stack) -> None:
    """Every attempt meets `409 in progress`: none is a refusal. The same key, asked again
    once the retries are over, redeems once -> COMPLETED, nothing reversed."""
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "in_progress_409", times=3)

    await _finalize(stack, started)
    state = await wait_terminal(stack, started.workflow_id)

    assert state["status"] == S.COMPLETED
    ledger = await money(stack, started.correlation_id)
    assert [r["status"] for r in ledger.redemptions] == ["SUCCESSFUL"]
    assert ledger.calls("drivewealth.redemption") == 4  # 3 attempts + the second look
    assert ledger.reversals == []
    assert ledger.cash() == START_CASH - 150


async def test_a_request_still_in_progress_is_never_reversed_on_a_guess(stack: Stack) -> None:
    """Attempt 1 is still being worked on at DriveWealth (it takes 9 s, several times what the
    withdrawal needs to give up here) when the client gives up; every later request with its
    key, the second look's too, meets `409 in progress`.
    Nothing says whether it will redeem: no reversal, an operator decides. And it does redeem,
    later: a reversal would have paid the customer twice."""
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "latency", times=1, delayMs=9000)

    response, state = await confirm(stack, started)

    assert response.status_code == 202, response.text
    assert state["status"] == S.MANUAL_COMPENSATION_REQUIRED
    assert state["failureCode"] == FailureCode.DW_REDEMPTION_UNKNOWN
    assert await task_for(stack, started.workflow_id, TaskKind.COMPENSATION_FAILED)
    ledger = await money(stack, started.correlation_id)
    assert ledger.calls("drivewealth.redemption") == 6  # 3 attempts, 3 for the second look
    assert ledger.reversals == []
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]
    deadline = time.monotonic() + 15
    while not (await money(stack, started.correlation_id)).redemptions:
        assert time.monotonic() < deadline, "the slow request never redeemed"
        await asyncio.sleep(0.2)
    assert [r["status"] for r in (await money(stack, started.correlation_id)).redemptions] == [
        "SUCCESSFUL"
    ]


async def test_a_401_after_an_attempt_that_may_have_redeemed_is_left_to_an_operator(
    stack: Stack,
) -> None:
    """Attempt 1 timed out (it may have redeemed); every later request is refused with 401.
    That proves nothing about attempt 1: no reversal, an operator decides."""
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "timeout", times=1, delayMs=2500)
    await stack.fault("drivewealth", "redemption", "unauthorized_401", probability=1.0)

    response, state = await confirm(stack, started)

    assert response.status_code == 202, response.text
    assert state["status"] == S.MANUAL_COMPENSATION_REQUIRED
    assert state["failureCode"] == FailureCode.DW_REDEMPTION_UNKNOWN
    assert await task_for(stack, started.workflow_id, TaskKind.COMPENSATION_FAILED)
    ledger = await money(stack, started.correlation_id)
    assert ledger.reversals == [] and ledger.redemptions == []


async def test_a_token_outage_with_revoked_tokens_compensates_without_a_task(
    stack: Stack,
) -> None:
    """Every token issued is revoked and no new one can be had: no redemption request can
    reach DriveWealth, so the transfer is reversed (the seed's "Token Failed"), no task."""
    started = await start(stack)
    (await stack.sim.post("/_sim/drivewealth/revoke-tokens")).raise_for_status()
    await stack.fault("drivewealth", "token", "error_500", probability=1.0)

    response, state = await confirm(stack, started)

    assert response.status_code == 422, response.text
    assert state["status"] == S.COMPENSATED
    assert state["failureCode"] == FailureCode.DW_TOKEN_FAILED
    assert await task_for(stack, started.workflow_id, TaskKind.COMPENSATION_FAILED) is None
    ledger = await money(stack, started.correlation_id)
    assert ledger.redemptions == []
    assert ledger.transfer_statuses == [CheckerStatus.REVERSED]


async def test_a_finalize_in_progress_is_settled_by_the_checker_not_refused(
    stack: Stack,
) -> None:
    """409 in progress on the confirmation is not the bank's refusal: the Transfer Checker
    says the debit never happened, so the OTP is sent again with the same key, once."""
    started = await start(stack)
    await stack.fault("transfer", "finalize", "in_progress_409")

    await _finalize(stack, started)
    state = await wait_terminal(stack, started.workflow_id)

    assert state["status"] == S.COMPLETED
    assert S.VERIFYING_TRANSFER in statuses(state)
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]
    assert ledger.calls("transfer.finalize") == 2
