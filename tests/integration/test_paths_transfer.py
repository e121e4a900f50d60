"""Bank transfer paths through the real stack: the finalize refused or failed, and a finalize
whose outcome is unknown (timed out), resolved by the Transfer Checker or handed to an
operator (docs/api.md)."""

from __future__ import annotations

from tests.integration._paths import (
    START_CASH,
    calls,
    confirm,
    finalize_answered,
    money,
    start,
    statuses,
    task_for,
)
from tests.integration.conftest import Stack
from withdraw_service.domain.outcomes import CheckerStatus, FailureCode, TaskKind, TaskState
from withdraw_service.domain.statuses import WithdrawStatus as S


async def test_bank_rejecting_the_finalize_ends_transfer_rejected(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "reject")

    response, state = await confirm(stack, started)

    assert state["status"] == S.TRANSFER_REJECTED
    assert state["failureCode"] == FailureCode.TRANSFER_REJECTED
    finalize_answered(response, state)
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.FAILED]
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH


async def test_finalize_ending_failed_is_transfer_failed(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "fail")

    response, state = await confirm(stack, started)

    assert state["status"] == S.TRANSFER_FAILED
    assert state["failureCode"] == FailureCode.TRANSFER_FAILED
    finalize_answered(response, state)
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.FAILED]
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH


async def test_finalize_timeout_after_commit_is_verified_success_and_completes(
    stack: Stack,
) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "timeout_after_commit")

    response, state = await confirm(stack, started)

    assert state["status"] == S.COMPLETED
    finalize_answered(response, state)
    history = statuses(state)
    assert S.VERIFYING_TRANSFER in history
    assert history.index(S.VERIFYING_TRANSFER) < history.index(S.TRANSFER_COMPLETED)
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]
    assert [r["id"] for r in ledger.redemptions] == [state["dwRedemptionId"]]
    assert ledger.reversals == []
    assert ledger.calls("transfer.finalize") == 1  # verified, never re-sent
    assert ledger.cash() == START_CASH - 150


async def test_finalize_outcome_never_resolved_needs_manual_review(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "timeout_after_commit")
    await stack.fault("transfer-checker", "status", "pending", probability=1.0)

    response, state = await confirm(stack, started)

    assert state["status"] == S.MANUAL_REVIEW_REQUIRED
    assert state["failureCode"] == FailureCode.TRANSFER_UNRESOLVED
    finalize_answered(response, state)
    assert S.VERIFYING_TRANSFER in statuses(state)
    assert await calls(stack, "transfer-checker.status") == 3  # transferVerification.maxAttempts
    task = await task_for(stack, started.workflow_id, TaskKind.TRANSFER_UNRESOLVED)
    assert task is not None
    assert task.state == TaskState.OPEN
    assert task.correlation_id == started.correlation_id
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [
        CheckerStatus.SUCCESS
    ]  # the bank did debit: hence the review
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH


async def test_finalize_timeout_not_applied_and_checker_reports_failed(stack: Stack) -> None:
    started = await start(stack)
    await stack.fault("transfer", "finalize", "timeout")
    await stack.fault("transfer-checker", "status", "fail")

    response, state = await confirm(stack, started)

    assert state["status"] == S.TRANSFER_FAILED
    assert state["failureCode"] == FailureCode.TRANSFER_FAILED
    finalize_answered(response, state)
    assert S.VERIFYING_TRANSFER in statuses(state)
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.FAILED]
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH


async def test_finalize_timeout_not_applied_is_sent_again_and_completes(stack: Stack) -> None:
    """The checker finds the transfer still INITIATED (the bank never applied the OTP): the
    finalize is sent again with the same Idempotency-Key, and applied once."""
    started = await start(stack)
    await stack.fault("transfer", "finalize", "timeout")

    response, state = await confirm(stack, started)

    assert state["status"] == S.COMPLETED
    finalize_answered(response, state)
    assert S.VERIFYING_TRANSFER in statuses(state)
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS]
    assert len(ledger.redemptions) == 1
    assert ledger.calls("transfer.finalize") == 2
    assert ledger.cash() == START_CASH - 150
