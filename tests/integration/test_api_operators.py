"""Operator tasks through the API (docs/api.md, "Operators"): a failed compensation
(COMPENSATION_FAILED) is retried once the bank is back and ends the withdrawal COMPENSATED; an
unresolved transfer (TRANSFER_UNRESOLVED) cannot be retried, keeps the account restricted, and
is resolved by hand with a note."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration._paths import (
    AMOUNT,
    START_CASH,
    Started,
    cancel,
    finalize,
    finalize_answered,
    initiate,
    money,
    otp_of,
    problem,
    start,
    status,
    statuses,
    wait_terminal,
)
from tests.integration.conftest import Stack
from withdraw_service.domain.outcomes import CheckerStatus, CompensationStatus, ProblemCode
from withdraw_service.domain.outcomes import TaskKind as K
from withdraw_service.domain.outcomes import TaskState as T
from withdraw_service.domain.statuses import WithdrawStatus as S

OPERATOR = "ops-carol"


def _ops(stack: Stack, operator: str = OPERATOR) -> dict[str, str]:
    return stack.ops_auth(operator)


async def _tasks(stack: Stack, state: T | None = None) -> list[dict[str, Any]]:
    params = {"state": state} if state else {}
    response = await stack.api.get("/ops/compensation-tasks", params=params, headers=_ops(stack))
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()["data"]
    return tasks


async def _task_of(stack: Stack, workflow_id: str, state: T | None = None) -> dict[str, Any]:
    mine = [t for t in await _tasks(stack, state) if t["workflowId"] == workflow_id]
    assert len(mine) == 1, mine
    return mine[0]


async def _retry(stack: Stack, task_id: str) -> httpx.Response:
    return await stack.api.post(f"/ops/compensation-tasks/{task_id}/retry", headers=_ops(stack))


async def _resolve(stack: Stack, task_id: str, body: Any) -> httpx.Response:
    return await stack.api.post(
        f"/ops/compensation-tasks/{task_id}/resolve", json=body, headers=_ops(stack)
    )


async def _finalize_to_the_end(stack: Stack, started: Started) -> dict[str, Any]:
    response = await finalize(
        stack, started.workflow_id, await otp_of(stack, started.authorisation_id)
    )
    state = await wait_terminal(stack, started.workflow_id, within=30)
    finalize_answered(response, state)
    return state


async def _manual_compensation(stack: Stack) -> tuple[Started, dict[str, Any]]:
    """A withdrawal whose redemption was refused and whose reversal failed on every attempt."""
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    await stack.fault("transfer", "reverse", "error_500", times=10)
    state = await _finalize_to_the_end(stack, started)
    assert state["status"] == S.MANUAL_COMPENSATION_REQUIRED, state
    return started, state


async def _manual_review(stack: Stack) -> tuple[Started, dict[str, Any]]:
    """A withdrawal whose finalize timed out after the bank applied it, and whose transfer
    the checker never saw settle."""
    started = await start(stack)
    await stack.fault("transfer", "finalize", "timeout_after_commit")
    await stack.fault("transfer-checker", "status", "pending", probability=1.0)
    state = await _finalize_to_the_end(stack, started)
    assert state["status"] == S.MANUAL_REVIEW_REQUIRED, state
    (await stack.sim.delete("/_sim/faults")).raise_for_status()
    return started, state


# -- COMPENSATION_FAILED ---------------------------------------------------------------------


async def test_failed_compensation_is_retried_to_compensated(stack: Stack) -> None:
    started, state = await _manual_compensation(stack)

    task = await _task_of(stack, started.workflow_id, T.OPEN)
    assert task["kind"] == K.COMPENSATION_FAILED
    assert task["state"] == T.OPEN
    assert task["correlationId"] == started.correlation_id
    assert task["amount"] == AMOUNT  # a decimal string with two decimals
    assert task["reason"]
    assert task["resolvedAt"] is None and task["resolvedBy"] is None and task["note"] is None
    assert task["id"] == state["compensation"]["taskId"]
    assert started.workflow_id not in [t["workflowId"] for t in await _tasks(stack, T.RESOLVED)]

    # A note is required to resolve; refusing it changes nothing.
    for body in ({"note": ""}, {}, {"note": "n" * 2001}, {"note": "ok", "extra": 1}, ["x"]):
        problem(await _resolve(stack, task["id"], body), 422, ProblemCode.VALIDATION_ERROR)
    problem(
        await stack.api.get(
            "/ops/compensation-tasks", params={"state": "DONE"}, headers=_ops(stack)
        ),
        422,
        ProblemCode.VALIDATION_ERROR,
    )

    # A retry while the bank still refuses the reversal leaves everything as it was.
    still_failing = await _retry(stack, task["id"])
    assert still_failing.status_code == 200, still_failing.text
    assert still_failing.json()["data"]["state"] == T.OPEN
    assert (await status(stack, started.workflow_id))["status"] == S.MANUAL_COMPENSATION_REQUIRED
    assert (await money(stack, started.correlation_id)).transfer_statuses == [CheckerStatus.SUCCESS]

    (await stack.sim.delete("/_sim/faults")).raise_for_status()
    before = await status(stack, started.workflow_id)

    retried = await _retry(stack, task["id"])

    assert retried.status_code == 200, retried.text
    done = retried.json()["data"]
    assert done["id"] == task["id"]
    assert done["state"] == T.RESOLVED
    assert done["resolvedAt"] is not None
    assert done["resolvedBy"] == OPERATOR  # the operator who asked, not the system
    after = await status(stack, started.workflow_id)
    assert after["status"] == S.COMPENSATED
    assert statuses(after) == [*statuses(before), S.COMPENSATED]  # one history row appended
    assert after["history"][:-1] == before["history"]
    assert after["compensation"]["status"] == CompensationStatus.SUCCEEDED
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.REVERSED]
    assert ledger.reversal_statuses == [CheckerStatus.SUCCESS]
    assert ledger.redemptions == []
    assert ledger.cash() == START_CASH
    assert await _task_of(stack, started.workflow_id, T.RESOLVED) == done
    assert started.workflow_id not in [t["workflowId"] for t in await _tasks(stack, T.OPEN)]
    # The operators' search shows the new status too.
    found = await stack.api.get(
        "/ops/withdrawals",
        params={"correlationId": started.correlation_id},
        headers=_ops(stack),
    )
    assert [i["status"] for i in found.json()["data"]["items"]] == [S.COMPENSATED]

    # Nothing more to do on a resolved task.
    problem(await _retry(stack, task["id"]), 409, ProblemCode.INVALID_STATE)
    problem(await _resolve(stack, task["id"], {"note": "again"}), 409, ProblemCode.INVALID_STATE)
    reversals = (await money(stack, started.correlation_id)).calls("transfer.reverse")
    problem(await _retry(stack, task["id"]), 409, ProblemCode.INVALID_STATE)
    assert (await money(stack, started.correlation_id)).calls("transfer.reverse") == reversals

    # The account is free: the same customer can withdraw again.
    again = await start(stack)
    assert (await cancel(stack, again.workflow_id)).status_code == 200
    await wait_terminal(stack, again.workflow_id)


@pytest.mark.parametrize("action", ["retry", "resolve"])
async def test_unknown_task_is_not_found(stack: Stack, action: str) -> None:
    for task_id in (str(uuid.uuid4()), "not-a-uuid", "x" * 300):
        if action == "retry":
            response = await _retry(stack, task_id)
        else:
            response = await _resolve(stack, task_id, {"note": "checked"})
        problem(response, 404, ProblemCode.NOT_FOUND)


# -- TRANSFER_UNRESOLVED ---------------------------------------------------------------------


async def test_unresolved_transfer_cannot_be_retried_and_keeps_the_account_restricted(
    stack: Stack,
) -> None:
    started, _ = await _manual_review(stack)
    task = await _task_of(stack, started.workflow_id, T.OPEN)
    assert task["kind"] == K.TRANSFER_UNRESOLVED
    assert task["correlationId"] == started.correlation_id

    problem(await _retry(stack, task["id"]), 409, ProblemCode.INVALID_STATE)

    assert (await _task_of(stack, started.workflow_id))["state"] == T.OPEN
    ledger = await money(stack, started.correlation_id)
    assert ledger.transfer_statuses == [CheckerStatus.SUCCESS] and ledger.reversals == []
    # While the review is open the account takes no new withdrawal.
    refused = problem(await initiate(stack), 409, ProblemCode.WITHDRAW_RESTRICTED)
    # A withdrawal of its own, refused and ended (docs/api.md: the problem carries its ids).
    assert refused["workflowId"].startswith("WITHDRAW-"), refused
    assert refused["workflowId"] != started.workflow_id, refused
    assert refused["withdrawStatus"] == S.WITHDRAW_RESTRICTED, refused
    assert (await status(stack, started.workflow_id))["status"] == S.MANUAL_REVIEW_REQUIRED


async def test_resolving_the_review_task_by_hand_frees_the_account(stack: Stack) -> None:
    started, _ = await _manual_review(stack)
    task = await _task_of(stack, started.workflow_id, T.OPEN)
    problem(await initiate(stack), 409, ProblemCode.WITHDRAW_RESTRICTED)
    problem(await _resolve(stack, task["id"], {"note": ""}), 422, ProblemCode.VALIDATION_ERROR)

    note = "bank confirmed the debit; customer credited by hand (ticket 42)"
    resolved = await _resolve(stack, task["id"], {"note": note})

    assert resolved.status_code == 200, resolved.text
    done = resolved.json()["data"]
    assert done["state"] == T.RESOLVED
    assert done["resolvedBy"] == OPERATOR
    assert done["note"] == note
    assert done["resolvedAt"] is not None
    assert await _task_of(stack, started.workflow_id, T.RESOLVED) == done
    problem(await _resolve(stack, task["id"], {"note": "again"}), 409, ProblemCode.INVALID_STATE)
    problem(await _retry(stack, task["id"]), 409, ProblemCode.INVALID_STATE)
    # The withdrawal keeps its status; the account is free again.
    assert (await status(stack, started.workflow_id))["status"] == S.MANUAL_REVIEW_REQUIRED
    again = await start(stack)
    assert (await cancel(stack, again.workflow_id)).status_code == 200
    await wait_terminal(stack, again.workflow_id)


async def test_tasks_are_listed_by_state(stack: Stack) -> None:
    """Both kinds at once: each in OPEN, none in RESOLVED, the unfiltered list holds both."""
    review, _ = await _manual_review(stack)
    # user-1002 has an account of its own, so the open review does not restrict it.
    compensation = await start(stack, "user-1002")
    await stack.fault("drivewealth", "redemption", "reject")
    await stack.fault("transfer", "reverse", "error_500", times=10)
    response = await finalize(
        stack,
        compensation.workflow_id,
        await otp_of(stack, compensation.authorisation_id),
        "user-1002",
    )
    ended = await wait_terminal(stack, compensation.workflow_id, "user-1002", within=30)
    assert ended["status"] == S.MANUAL_COMPENSATION_REQUIRED
    finalize_answered(response, ended)

    open_tasks = await _tasks(stack, T.OPEN)
    kinds = {t["workflowId"]: t["kind"] for t in open_tasks}
    assert kinds == {
        review.workflow_id: K.TRANSFER_UNRESOLVED,
        compensation.workflow_id: K.COMPENSATION_FAILED,
    }
    assert await _tasks(stack, T.RESOLVED) == []
    assert {t["id"] for t in await _tasks(stack)} == {t["id"] for t in open_tasks}


async def test_retry_after_a_reversal_that_went_through_sends_nothing_again(
    stack: Stack,
) -> None:
    """Every reversal attempt timed out after the bank applied it: the withdrawal ends
    MANUAL_COMPENSATION_REQUIRED, but the transfer is in fact REVERSED. The operator's retry
    asks the checker first, closes the task and ends COMPENSATED with no second reversal."""
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    await stack.fault("transfer", "reverse", "timeout_after_commit", times=10)
    state = await _finalize_to_the_end(stack, started)
    assert state["status"] == S.MANUAL_COMPENSATION_REQUIRED, state
    (await stack.sim.delete("/_sim/faults")).raise_for_status()
    ledger = await stack.ledger()
    reversals = [r for r in ledger["reversals"] if r["correlationId"] == started.correlation_id]
    assert len(reversals) == 1  # the bank applied the first attempt

    reverse_calls = ledger["calls"].get("transfer.reverse", 0)

    task = await _task_of(stack, started.workflow_id, T.OPEN)
    response = await _retry(stack, task["id"])
    assert response.status_code == 200, response.text
    assert response.json()["data"]["state"] == T.RESOLVED
    assert (await status(stack, started.workflow_id))["status"] == S.COMPENSATED
    ledger = await stack.ledger()
    again = [r for r in ledger["reversals"] if r["correlationId"] == started.correlation_id]
    assert again == reversals
    assert ledger["calls"].get("transfer.reverse", 0) == reverse_calls  # nothing sent again
