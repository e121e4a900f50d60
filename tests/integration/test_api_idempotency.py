"""Idempotency-Key on POST /withdraw/initiate (docs/api.md): the same key from the same
user returns the same withdrawal and starts nothing new - across an API restart, in parallel,
and after the withdrawal ended; the same key with another body is IDEMPOTENCY_KEY_REUSED; keys
are per user."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.integration._paths import (
    USER,
    calls,
    cancel,
    money,
    problem,
    wait_terminal,
)
from tests.integration.conftest import Stack

OTHER = "user-1002"
BODY = {"amount": "150.00", "productNumber": "ACC-1", "frontendSimaReady": False}


async def _initiate(
    stack: Stack,
    key: str,
    user: str = USER,
    *,
    api: httpx.AsyncClient | None = None,
    **changes: Any,
) -> httpx.Response:
    return await (api or stack.api).post(
        "/withdraw/initiate",
        json={**BODY, **changes},
        headers={**stack.auth(user), "Idempotency-Key": key},
    )


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _same_withdrawal(first: dict[str, Any], again: dict[str, Any]) -> None:
    for key in ("workflowId", "correlationId", "authorisationId"):
        assert again[key] == first[key], (key, first, again)


async def _listed(stack: Stack, user: str = USER) -> list[str]:
    response = await stack.api.get("/withdraw", headers=stack.auth(user))
    assert response.status_code == 200, response.text
    return [item["workflowId"] for item in response.json()["data"]["items"]]


async def _cancel(stack: Stack, workflow_id: str, user: str = USER) -> None:
    response = await cancel(stack, workflow_id, user)
    assert response.status_code == 200, response.text
    assert (await wait_terminal(stack, workflow_id, user))["status"] == "CANCELLED"


async def test_same_key_and_body_twice_is_one_withdrawal(stack: Stack) -> None:
    key = f"key-{uuid.uuid4()}"
    first = _ok(await _initiate(stack, key))
    assert first["status"] == "AWAITING_OTP"

    again = _ok(await _initiate(stack, key))
    # The same amount written differently is the same request.
    as_number = _ok(await _initiate(stack, key, amount=150))

    try:
        _same_withdrawal(first, again)
        _same_withdrawal(first, as_number)
        assert again["status"] == "AWAITING_OTP"
        ledger = await money(stack, first["correlationId"])
        assert len(ledger.transfers) == 1, ledger.transfers
        assert ledger.calls("transfer.initiate") == 1
        assert await _listed(stack) == [first["workflowId"]]
    finally:
        await _cancel(stack, first["workflowId"])


async def test_same_key_after_an_api_restart_is_the_same_withdrawal(stack: Stack) -> None:
    key = f"key-{uuid.uuid4()}"
    first = _ok(await _initiate(stack, key))
    try:
        async with stack.api_with() as restarted:
            again = _ok(await _initiate(stack, key, api=restarted))
        _same_withdrawal(first, again)
        ledger = await money(stack, first["correlationId"])
        assert len(ledger.transfers) == 1
        assert ledger.calls("transfer.initiate") == 1
        assert await _listed(stack) == [first["workflowId"]]
    finally:
        await _cancel(stack, first["workflowId"])


async def test_same_key_in_parallel_is_one_withdrawal(stack: Stack) -> None:
    key = f"key-{uuid.uuid4()}"
    responses = await asyncio.gather(*(_initiate(stack, key) for _ in range(5)))
    answered = [_ok(r) for r in responses]
    try:
        assert len({a["workflowId"] for a in answered}) == 1, answered
        assert len({a["correlationId"] for a in answered}) == 1
        assert await calls(stack, "transfer.initiate") == 1
    finally:
        await _cancel(stack, answered[0]["workflowId"])


async def test_same_key_with_another_body_is_refused(stack: Stack) -> None:
    key = f"key-{uuid.uuid4()}"
    first = _ok(await _initiate(stack, key))
    try:
        for changes in (
            {"amount": "151.00"},
            {"productNumber": "ACC-2"},
            {"frontendSimaReady": True},
        ):
            body = problem(await _initiate(stack, key, **changes), 422, "IDEMPOTENCY_KEY_REUSED")
            assert key not in str(body)
        assert await calls(stack, "transfer.initiate") == 1
        assert await _listed(stack) == [first["workflowId"]]
        # The key still stands for the first request.
        _same_withdrawal(first, _ok(await _initiate(stack, key)))
    finally:
        await _cancel(stack, first["workflowId"])


async def test_same_key_from_another_user_is_independent(stack: Stack) -> None:
    key = f"key-{uuid.uuid4()}"
    mine = _ok(await _initiate(stack, key))
    try:
        theirs = _ok(await _initiate(stack, key, OTHER))
        try:
            assert theirs["workflowId"] != mine["workflowId"]
            assert theirs["correlationId"] != mine["correlationId"]
            assert await calls(stack, "transfer.initiate") == 2
            assert await _listed(stack, OTHER) == [theirs["workflowId"]]
            assert await _listed(stack, USER) == [mine["workflowId"]]
            # ...and another user's key is no way into someone else's withdrawal: a
            # different body under the same key is only compared with their own request.
            other_body = _ok(await _initiate(stack, f"key-{uuid.uuid4()}", "user-1003"))
            await _cancel(stack, other_body["workflowId"], "user-1003")
        finally:
            await _cancel(stack, theirs["workflowId"], OTHER)
    finally:
        await _cancel(stack, mine["workflowId"])


async def _replay_after_cancel(stack: Stack) -> tuple[dict[str, Any], httpx.Response]:
    """Start with a key, cancel, send the same key again: nothing new may start."""
    key = f"key-{uuid.uuid4()}"
    first = _ok(await _initiate(stack, key))
    await _cancel(stack, first["workflowId"])
    initiates = await calls(stack, "transfer.initiate")

    response = await _initiate(stack, key)

    assert await calls(stack, "transfer.initiate") == initiates
    assert await _listed(stack) == [first["workflowId"]]
    ledger = await money(stack, first["correlationId"])
    assert len(ledger.transfers) == 1
    return first, response


async def test_same_key_after_the_withdrawal_ended_starts_nothing(stack: Stack) -> None:
    first, response = await _replay_after_cancel(stack)
    if response.status_code < 300:
        assert response.json()["data"]["workflowId"] == first["workflowId"]


async def test_same_key_after_the_withdrawal_ended_returns_its_state(stack: Stack) -> None:
    first, response = await _replay_after_cancel(stack)
    again = _ok(response)
    assert again["workflowId"] == first["workflowId"]
    assert again["correlationId"] == first["correlationId"]
    assert again["status"] == "CANCELLED"
