"""Bank transfer paths through the real stack: the finalize refused or failed, and a finalize
whose outcome is unknown (timed out), resolved by the Transfer Checker or handed to an
operator (CONTRACT sections 4-6)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration._paths import (
    START_CASH,
    Started,
    calls,
    finalize,
    money,
    otp_of,
    start,
    statuses,
    task_for,
    wait_terminal,
)
from tests.integration.conftest import Stack


async def _finalize_and_wait(stack: Stack, started: Started) -> tuple[httpx.Response, Any]:
    """Finalize with the right OTP; answer the finalize response and the terminal state."""
    response = await finalize(
        stack, started.workflow_id, await otp_of(stack, started.authorisation_id)
    )
    assert response.status_code < 500, response.text
    return response, await wait_terminal(stack, started.workflow_id)


def _answered(response: httpx.Response, final: str) -> None:
    """Finalize may answer 200 with the end state, 202 while working, or a problem; whatever
    it says must not contradict the end state."""
    if response.status_code == 200:
        assert response.json()["data"]["status"] == final, response.text
    elif response.status_code == 202:
        assert response.json()["data"]["status"] in (final, *_IN_FLIGHT), response.text
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] not in ("OTP_INVALID", "OTP_EXPIRED"), response.text


_IN_FLIGHT = (
    "FINALIZING_TRANSFER",
    "VERIFYING_TRANSFER",
    "TRANSFER_COMPLETED",
    "CREATING_DW_REDEMPTION",
    "COMPENSATING",
)


async def test_bank_rejecting_the_finalize_ends_transfer_rejected(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "reject")

    response, state = await _finalize_and_wait(stack, started)

    _answered(response, "TRANSFER_REJECTED")
    assert state["status"] == "TRANSFER_REJECTED"
    assert state["failureCode"] == "TRANSFER_REJECTED"
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["FAILED"]
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH


async def test_finalize_ending_failed_is_transfer_failed(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "fail")

    response, state = await _finalize_and_wait(stack, started)

    _answered(response, "TRANSFER_FAILED")
    assert state["status"] == "TRANSFER_FAILED"
    assert state["failureCode"] == "TRANSFER_FAILED"
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["FAILED"]
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH


async def test_finalize_timeout_after_commit_is_verified_success_and_completes(
    stack: Stack,
) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "timeout_after_commit")

    response, state = await _finalize_and_wait(stack, started)

    _answered(response, "COMPLETED")
    assert state["status"] == "COMPLETED"
    history = statuses(state)
    assert "VERIFYING_TRANSFER" in history
    assert history.index("VERIFYING_TRANSFER") < history.index("TRANSFER_COMPLETED")
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["SUCCESS"]
    assert [r["id"] for r in ledger.redemptions] == [state["dwRedemptionId"]]
    assert ledger.reversals == []
    assert ledger.calls("transfer.finalize") == 1  # verified, never re-sent
    assert ledger.cash() == START_CASH - 150


async def test_finalize_outcome_never_resolved_needs_manual_review(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "timeout_after_commit")
    await stack.fault("transfer-checker", "status", "pending", probability=1.0)

    response, state = await _finalize_and_wait(stack, started)

    _answered(response, "MANUAL_REVIEW_REQUIRED")
    assert state["status"] == "MANUAL_REVIEW_REQUIRED"
    assert state["failureCode"] == "TRANSFER_UNRESOLVED"
    assert "VERIFYING_TRANSFER" in statuses(state)
    assert await calls(stack, "transfer-checker.status") >= 3  # the configured checks
    task = await task_for(stack, started.workflow_id, "TRANSFER_UNRESOLVED")
    assert task is not None
    assert task.state == "OPEN"
    assert task.correlation_id == started.correlation_id
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["SUCCESS"]  # the bank did debit: hence the review
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH


async def test_finalize_timeout_not_applied_and_checker_reports_failed(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "timeout")
    await stack.fault("transfer-checker", "status", "fail")

    response, state = await _finalize_and_wait(stack, started)

    _answered(response, "TRANSFER_FAILED")
    assert state["status"] == "TRANSFER_FAILED"
    assert "VERIFYING_TRANSFER" in statuses(state)
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["FAILED"]
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH


async def test_finalize_timeout_not_applied_is_sent_again_and_completes(stack: Stack) -> None:
    """The checker finds the transfer still INITIATED (the bank never applied the OTP): the
    finalize is sent again with the same Idempotency-Key, and applied once."""
    started = await start(stack)
    await stack.fault("transfer", "finalize", "timeout")

    response, state = await _finalize_and_wait(stack, started)

    _answered(response, "COMPLETED")
    assert state["status"] == "COMPLETED"
    assert "VERIFYING_TRANSFER" in statuses(state)
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["SUCCESS"]
    assert len(ledger.redemptions) == 1
    assert ledger.calls("transfer.finalize") == 2
    assert ledger.cash() == START_CASH - 150
