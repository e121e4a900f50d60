"""Parallel initiates for one brokerage account (docs/api.md, WITHDRAW_RESTRICTED): one
withdrawal in flight per account, decided by the database even when every request arrives at
once. Runs on SQLite and PostgreSQL (the fixture's parameter); PostgreSQL is the one that
races for real."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from tests.integration._paths import USER, calls, cancel, initiate, problem, wait_terminal
from tests.integration.conftest import Stack

PARALLEL = 20


async def _end_winners(stack: Stack, responses: list[tuple[str, httpx.Response]]) -> None:
    """Cancel every withdrawal that got through, whatever the assertions said."""
    for user, response in responses:
        if response.status_code in (200, 202):
            workflow_id = response.json()["data"]["workflowId"]
            cancelled = await cancel(stack, workflow_id, user)
            assert cancelled.status_code in (200, 409), cancelled.text
            await wait_terminal(stack, workflow_id, user)


async def _all_listed(stack: Stack, user: str) -> list[dict[str, Any]]:
    response = await stack.api.get("/withdraw", params={"limit": 100}, headers=stack.auth(user))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]["items"]
    return items


async def test_parallel_initiates_for_one_account_let_exactly_one_through(stack: Stack) -> None:
    responses = list(await asyncio.gather(*(initiate(stack) for _ in range(PARALLEL))))
    answered = [(USER, r) for r in responses]
    try:
        codes = Counter(r.status_code for r in responses)
        assert codes == {200: 1, 409: PARALLEL - 1}, [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200).json()["data"]
        assert winner["status"] == "AWAITING_OTP"
        for response in responses:
            if response.status_code == 409:
                body = problem(response, 409, "WITHDRAW_RESTRICTED")
                assert body["workflowId"].startswith("WITHDRAW-"), body
                assert body["workflowId"] != winner["workflowId"], body
        assert await calls(stack, "transfer.initiate") == 1
    finally:
        await _end_winners(stack, answered)

    listed = await _all_listed(stack, USER)
    assert len(listed) == PARALLEL
    assert Counter(item["status"] for item in listed) == {
        "CANCELLED": 1,
        "WITHDRAW_RESTRICTED": PARALLEL - 1,
    }
    # The account is free again once the winner has ended.
    again = await initiate(stack)
    await _end_winners(stack, [(USER, again)])
    assert again.status_code == 200, again.text


async def test_parallel_initiates_for_three_accounts_let_one_through_each(stack: Stack) -> None:
    users = ["user-1001", "user-1002", "user-1003"]
    plan = [user for user in users for _ in range(5)]
    responses = list(await asyncio.gather(*(initiate(stack, user) for user in plan)))
    answered = list(zip(plan, responses, strict=True))
    try:
        for user in users:
            mine = Counter(r.status_code for u, r in answered if u == user)
            assert mine == {200: 1, 409: 4}, (user, mine)
        assert await calls(stack, "transfer.initiate") == len(users)
    finally:
        await _end_winners(stack, answered)
