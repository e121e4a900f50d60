"""Shared client-side helpers of the `test_paths_*` integration tests: everything goes through
the API and the simulator's control surface over HTTP, exactly as a client or a test tool
would (docs/api.md). Not collected (no `test_` prefix)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from tests.integration.conftest import Stack
from withdraw_service.domain.outcomes import ProblemCode
from withdraw_service.domain.statuses import TERMINAL, UNRESOLVED
from withdraw_service.domain.statuses import WithdrawStatus as S

USER = "user-1001"
DW_ACCOUNT = "DWAA001001"
START_CASH = Decimal("10000.00")
AMOUNT = "150.00"


@dataclass(frozen=True)
class Started:
    """A withdrawal that answered 200 AWAITING_OTP on initiate."""

    workflow_id: str
    correlation_id: str
    authorisation_id: str
    data: dict[str, Any]


# -- API calls -------------------------------------------------------------------------------


async def initiate(
    stack: Stack,
    user: str = USER,
    amount: str = AMOUNT,
    *,
    api: httpx.AsyncClient | None = None,
) -> httpx.Response:
    return await (api or stack.api).post(
        "/withdraw/initiate",
        json={"amount": amount, "productNumber": "ACC-1", "frontendSimaReady": False},
        headers=stack.auth(user),
    )


async def start(
    stack: Stack,
    user: str = USER,
    amount: str = AMOUNT,
    *,
    api: httpx.AsyncClient | None = None,
) -> Started:
    """Initiate and insist on 200 AWAITING_OTP."""
    response = await initiate(stack, user, amount, api=api)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == S.AWAITING_OTP, data
    return Started(data["workflowId"], data["correlationId"], data["authorisationId"], data)


async def otp_of(stack: Stack, authorisation_id: str) -> str:
    response = await stack.sim.get(f"/_sim/otp/{authorisation_id}")
    assert response.status_code == 200, response.text
    otp: str = response.json()["otp"]
    return otp


def wrong(otp: str) -> str:
    """A six-digit code that is certainly not `otp`."""
    return f"{(int(otp) + 1) % 10**6:06d}"


async def finalize(
    stack: Stack,
    workflow_id: str,
    otp: str,
    user: str = USER,
    *,
    api: httpx.AsyncClient | None = None,
) -> httpx.Response:
    return await (api or stack.api).put(
        f"/withdraw/finalize/{workflow_id}", json={"otpCode": otp}, headers=stack.auth(user)
    )


async def cancel(stack: Stack, workflow_id: str, user: str = USER) -> httpx.Response:
    return await stack.api.post(f"/withdraw/{workflow_id}/cancel", headers=stack.auth(user))


async def status(
    stack: Stack,
    workflow_id: str,
    user: str = USER,
    *,
    api: httpx.AsyncClient | None = None,
) -> dict[str, Any]:
    response = await (api or stack.api).get(
        f"/withdraw/status/{workflow_id}", headers=stack.auth(user)
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def wait_terminal(
    stack: Stack,
    workflow_id: str,
    user: str = USER,
    *,
    within: float = 15.0,
    api: httpx.AsyncClient | None = None,
) -> dict[str, Any]:
    """Poll GET status every 0.2 s until the withdrawal ends; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        state = await status(stack, workflow_id, user, api=api)
        if state["status"] in TERMINAL:
            return state
        assert time.monotonic() < deadline, f"still {state['status']} after {within}s"
        await asyncio.sleep(0.2)


async def confirm(
    stack: Stack, started: Started, user: str = USER
) -> tuple[httpx.Response, dict[str, Any]]:
    """Finalize with the right OTP, whatever it answers; that answer and the end state."""
    otp = await otp_of(stack, started.authorisation_id)
    response = await finalize(stack, started.workflow_id, otp, user)
    return response, await wait_terminal(stack, started.workflow_id, user)


def statuses(state: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in state["history"]]


# -- errors ----------------------------------------------------------------------------------


def problem(response: httpx.Response, http_status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem with this HTTP status and `code`; answer its body."""
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), (
        response.headers["content-type"]
    )
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == http_status, body
    for field in ("type", "title", "detail"):
        assert field in body, body
    return body


# docs/api.md, PUT /withdraw/finalize: the OTP was accepted but no money moved.
FAILED_AFTER_OTP = frozenset({S.TRANSFER_REJECTED, S.TRANSFER_FAILED, S.COMPENSATED})


def finalize_answered(response: httpx.Response, end: dict[str, Any]) -> dict[str, Any]:
    """Assert what finalize must answer (docs/api.md) for a withdrawal that ended as `end`
    (its state read after the end); answer the state finalize carried. The paths of these
    tests settle well within the API's wait, so the answer is the settled one, never a 202:

    - COMPLETED: 200, the receipt;
    - TRANSFER_REJECTED, TRANSFER_FAILED, COMPENSATED: 422 WITHDRAWAL_FAILED, the state in
      `withdrawal` and its `failureCode`;
    - MANUAL_REVIEW_REQUIRED, MANUAL_COMPENSATION_REQUIRED: 202 with the state (an operator
      decides where the money goes).
    """
    ended = S(end["status"])
    if ended in FAILED_AFTER_OTP:
        body = problem(response, 422, ProblemCode.WITHDRAWAL_FAILED)
        assert body["failureCode"] == end["failureCode"], body
        assert body["failureCode"] is not None, body
        answered: dict[str, Any] = body["withdrawal"]
    else:
        assert ended == S.COMPLETED or ended in UNRESOLVED, f"finalize cannot end {ended}"
        assert response.status_code == (202 if ended in UNRESOLVED else 200), response.text
        assert response.headers["content-type"] == "application/json", response.headers
        answered = response.json()["data"]
    if ended == S.COMPLETED:
        assert answered["transferReferenceNumber"] and answered["dwRedemptionId"], answered
    # The same state the status endpoint shows once the withdrawal has ended.
    assert answered == end, (answered, end)
    return answered


async def refused_withdrawal(stack: Stack, body: dict[str, Any], user: str = USER) -> str:
    """The workflowId of a withdrawal whose initiate answered a problem: docs/api.md puts its
    ids in the problem (`workflowId`, `correlationId`, `withdrawStatus`); it is also the
    caller's newest withdrawal (GET /withdraw)."""
    workflow_id: str = body["workflowId"]
    assert workflow_id.startswith("WITHDRAW-") and body["correlationId"], body
    listed = await stack.api.get("/withdraw", headers=stack.auth(user))
    assert listed.status_code == 200, listed.text
    items = listed.json()["data"]["items"]
    assert items and items[0]["workflowId"] == workflow_id, (body, items[:1])
    assert items[0]["status"] == body["withdrawStatus"], (body, items[0])
    return workflow_id


# -- simulator ledger ------------------------------------------------------------------------


@dataclass(frozen=True)
class Money:
    """The ledger rows of one withdrawal (by correlationId), and the whole ledger."""

    transfers: list[dict[str, Any]]
    reversals: list[dict[str, Any]]
    redemptions: list[dict[str, Any]]
    ledger: dict[str, Any]

    def cash(self, account_no: str = DW_ACCOUNT) -> Decimal:
        account = next(a for a in self.ledger["accounts"] if a["dwAccountNo"] == account_no)
        return Decimal(str(account["cashBalance"]))

    def calls(self, key: str) -> int:
        count: int = self.ledger["calls"].get(key, 0)
        return count

    @property
    def transfer_statuses(self) -> list[str]:
        return [t["status"] for t in self.transfers]

    @property
    def reversal_statuses(self) -> list[str]:
        return [r["status"] for r in self.reversals]


async def money(stack: Stack, correlation_id: str | None) -> Money:
    ledger = await stack.ledger()

    def mine(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [row for row in rows if row["correlationId"] == correlation_id]

    return Money(
        mine(ledger["transfers"]), mine(ledger["reversals"]), mine(ledger["redemptions"]), ledger
    )


async def calls(stack: Stack, key: str) -> int:
    return (await money(stack, None)).calls(key)


async def task_for(stack: Stack, workflow_id: str, kind: str) -> Any:
    return await asyncio.to_thread(stack.operations.task_for, workflow_id, kind)
