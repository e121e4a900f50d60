"""Initiation paths through the real stack: refusals before any money moves (docs/api.md),
and the one-in-flight restriction with cancel, and initiate's retry policy."""

from __future__ import annotations

import pytest

from tests.integration._paths import (
    START_CASH,
    calls,
    cancel,
    initiate,
    money,
    problem,
    refused_withdrawal,
    start,
    status,
    wait_terminal,
)
from tests.integration.conftest import Stack
from withdraw_service.domain.outcomes import CheckerStatus, ProblemCode
from withdraw_service.domain.statuses import WithdrawStatus as S


@pytest.mark.parametrize("user", ["user-blocked", "user-nobroker", "user-nobody-9999"])
async def test_invalid_user_is_refused_403(stack: Stack, user: str) -> None:
    response = await initiate(stack, user)

    body = problem(response, 403, "USER_INVALID")
    workflow_id = await refused_withdrawal(stack, body, user)
    state = await wait_terminal(stack, workflow_id, user)
    assert state["status"] == "USER_INVALID"
    assert state["failureCode"] == "USER_INVALID"
    ledger = await money(stack, state["correlationId"])
    assert ledger.transfers == [] and ledger.redemptions == []
    assert ledger.calls("transfer.initiate") == 0


async def test_second_initiate_while_first_awaits_otp_is_restricted_then_first_cancelled(
    stack: Stack,
) -> None:
    first = await start(stack)

    second = await initiate(stack)
    body = problem(second, 409, "WITHDRAW_RESTRICTED")
    restricted_id = await refused_withdrawal(stack, body)
    assert restricted_id != first.workflow_id
    restricted = await wait_terminal(stack, restricted_id)
    assert restricted["status"] == "WITHDRAW_RESTRICTED"
    assert (await money(stack, restricted["correlationId"])).transfers == []
    # The first one is untouched by the refusal.
    assert (await status(stack, first.workflow_id))["status"] == "AWAITING_OTP"

    cancelled = await cancel(stack, first.workflow_id)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["status"] == "CANCELLED"
    problem(await cancel(stack, first.workflow_id), 409, "INVALID_STATE")

    state = await wait_terminal(stack, first.workflow_id)
    assert state["status"] == "CANCELLED"
    ledger = await money(stack, first.correlation_id)
    assert ledger.transfer_statuses == ["INITIATED"]  # authorised, never debited
    assert ledger.redemptions == [] and ledger.reversals == []
    assert ledger.cash() == START_CASH


async def test_a_cancel_not_settled_within_the_wait_answers_202_then_ends_cancelled(
    stack: Stack,
) -> None:
    """The API waits `api_wait_seconds` for the workflow to take the cancel (a worker may be
    busy or restarting); past that it answers 202 with the state as it stands, never a 500.
    Whether that cancel reached the workflow is then unknown: the client polls, and cancels
    again if it still awaits its OTP (a cancel is idempotent in effect)."""
    started = await start(stack)
    async with stack.api_with(api_wait_seconds=0.001) as impatient:
        answer = await impatient.post(
            f"/withdraw/{started.workflow_id}/cancel", headers=stack.auth("user-1001")
        )
    assert answer.status_code == 202, answer.text
    as_it_stood = answer.json()["data"]["status"]
    # Which of the two the first cancel found depends on timing; each has one right answer.
    assert as_it_stood in (S.AWAITING_OTP, S.CANCELLED), answer.text
    again = await cancel(stack, started.workflow_id)
    if as_it_stood == S.CANCELLED or again.status_code == 409:  # the first one got through
        problem(again, 409, ProblemCode.INVALID_STATE)
    else:
        assert again.status_code == 200, again.text
        assert again.json()["data"]["status"] == S.CANCELLED, again.text
    state = await wait_terminal(stack, started.workflow_id)
    assert state["status"] == S.CANCELLED
    transfers = (await money(stack, started.correlation_id)).transfer_statuses
    assert transfers == [CheckerStatus.INITIATED]


async def test_amount_above_brokerage_cash_is_insufficient_funds(stack: Stack) -> None:
    response = await initiate(stack, amount="20000.00")

    body = problem(response, 422, "INSUFFICIENT_FUNDS")
    state = await wait_terminal(stack, await refused_withdrawal(stack, body))
    assert state["status"] == "INITIATION_FAILED"
    assert state["failureCode"] == "INSUFFICIENT_FUNDS"
    ledger = await money(stack, state["correlationId"])
    assert ledger.transfers == [] and ledger.redemptions == []
    assert ledger.calls("transfer.initiate") == 0  # refused before the bank was asked


async def test_transfer_service_rejecting_initiate_is_insufficient_funds(stack: Stack) -> None:
    await stack.fault("transfer", "initiate", "reject")

    response = await initiate(stack)

    body = problem(response, 422, "INSUFFICIENT_FUNDS")
    state = await wait_terminal(stack, await refused_withdrawal(stack, body))
    assert state["status"] == "INITIATION_FAILED"
    assert state["failureCode"] == "INSUFFICIENT_FUNDS"
    ledger = await money(stack, state["correlationId"])
    assert ledger.transfers == [] and ledger.redemptions == []
    assert ledger.calls("transfer.initiate") == 1  # a business refusal is not retried


async def test_initiate_500s_within_the_retry_policy_still_reach_awaiting_otp(
    stack: Stack,
) -> None:
    before = await calls(stack, "transfer.initiate")
    await stack.fault("transfer", "initiate", "error_500", times=2)

    started = await start(stack)

    assert await calls(stack, "transfer.initiate") == before + 3
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == ["INITIATED"]  # the retries made one authorisation
    # Drive it to an end: the customer walks away.
    assert (await cancel(stack, started.workflow_id)).status_code == 200
    assert (await wait_terminal(stack, started.workflow_id))["status"] == "CANCELLED"


async def test_initiate_500s_past_the_retry_policy_is_upstream_unavailable(stack: Stack) -> None:
    before = await calls(stack, "transfer.initiate")
    await stack.fault("transfer", "initiate", "error_500", times=5)

    response = await initiate(stack)

    body = problem(response, 503, "UPSTREAM_UNAVAILABLE")
    assert await calls(stack, "transfer.initiate") == before + 5
    state = await wait_terminal(stack, await refused_withdrawal(stack, body))
    assert state["status"] == "INITIATION_FAILED"
    assert state["failureCode"] == "UPSTREAM_UNAVAILABLE"
    ledger = await money(stack, state["correlationId"])
    assert ledger.transfers == [] and ledger.redemptions == []
