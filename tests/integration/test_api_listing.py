"""GET /withdraw and GET /ops/withdrawals (docs/api.md): newest first, cursor pages
that neither repeat nor skip, the status filter, each customer sees only their own, and the
operators' search across customers by userId and correlationId."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.integration._paths import USER, cancel, initiate, problem, start, wait_terminal
from tests.integration.conftest import Stack
from withdraw_service.api.auth import mint_token
from withdraw_service.domain.outcomes import TaskKind

OTHER = "user-1002"
COUNT = 7


def _operator(stack: Stack) -> dict[str, str]:
    secret = stack.settings.jwt_secret.get_secret_value()
    return {"Authorization": f"Bearer {mint_token(secret, 'ops-1', ['ops'], 600)}"}


async def _make_cancelled(stack: Stack, count: int) -> list[dict[str, Any]]:
    """`count` withdrawals of USER, oldest first, each cancelled right after initiation (the
    account allows one in flight)."""
    made = []
    for i in range(count):
        started = await start(stack, amount=f"{10 + i}.00")
        response = await cancel(stack, started.workflow_id)
        assert response.status_code == 200, response.text
        made.append(await wait_terminal(stack, started.workflow_id))
    return made


async def _get(stack: Stack, path: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await stack.api.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _all_pages(
    stack: Stack, path: str, headers: dict[str, str], limit: int, **params: Any
) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        data = await _get(stack, path, headers, **query)
        pages.append(data["items"])
        cursor = data["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) <= 10, "the cursor never ran out"


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["workflowId"] for item in items]


async def test_customer_listing_pages_newest_first(stack: Stack) -> None:
    made = await _make_cancelled(stack, COUNT)
    newest_first = _ids(made)[::-1]
    headers = stack.auth(USER)

    pages = await _all_pages(stack, "/withdraw", headers, limit=3)

    assert [len(page) for page in pages] == [3, 3, 1]
    flat = [item for page in pages for item in page]
    assert _ids(flat) == newest_first  # newest first, no duplicates, no gaps
    assert [item["amount"] for item in flat] == [f"{10 + i}.00" for i in reversed(range(COUNT))]
    created = [item["createdAt"] for item in flat]
    assert created == sorted(created, reverse=True)
    assert all(item["userId"] == USER for item in flat)
    # An item as listed is the item as its status endpoint shows it.
    assert flat[-1] == made[0]

    # A page size that divides the total exactly ends with a null cursor, not an empty page.
    seven = await _get(stack, "/withdraw", headers, limit=COUNT)
    assert _ids(seven["items"]) == newest_first
    assert seven["nextCursor"] is None
    default = await _get(stack, "/withdraw", headers)
    assert _ids(default["items"]) == newest_first and default["nextCursor"] is None


async def test_cursor_pages_stay_stable_when_a_withdrawal_is_added(stack: Stack) -> None:
    made = await _make_cancelled(stack, 4)
    headers = stack.auth(USER)
    first = await _get(stack, "/withdraw", headers, limit=2)
    newer = (await _make_cancelled(stack, 1))[0]

    rest = await _get(stack, "/withdraw", headers, limit=10, cursor=first["nextCursor"])

    assert _ids(first["items"]) == _ids(made)[::-1][:2]
    assert _ids(rest["items"]) == _ids(made)[::-1][2:]  # the newer one is not pushed in
    assert rest["nextCursor"] is None
    fresh = await _get(stack, "/withdraw", headers, limit=1)
    assert _ids(fresh["items"]) == [newer["workflowId"]]


async def test_status_filter_and_other_users(stack: Stack) -> None:
    made = await _make_cancelled(stack, COUNT)
    newest_first = _ids(made)[::-1]
    # One more withdrawal of another status: refused while one is in flight.
    in_flight = await start(stack)
    refused = problem(await initiate(stack), 409, "WITHDRAW_RESTRICTED")
    assert (await cancel(stack, in_flight.workflow_id)).status_code == 200
    await wait_terminal(stack, in_flight.workflow_id)
    everything = [in_flight.workflow_id, *newest_first]
    headers = stack.auth(USER)

    cancelled = [
        item
        for page in await _all_pages(stack, "/withdraw", headers, limit=3, status="CANCELLED")
        for item in page
    ]
    assert _ids(cancelled) == everything
    restricted = await _get(stack, "/withdraw", headers, status="WITHDRAW_RESTRICTED")
    assert len(restricted["items"]) == 1
    assert restricted["items"][0]["status"] == "WITHDRAW_RESTRICTED"
    assert _ids(restricted["items"]) == [refused["workflowId"]]
    for status in ("AWAITING_OTP", "COMPLETED"):
        empty = await _get(stack, "/withdraw", headers, status=status)
        assert empty == {"items": [], "nextCursor": None}

    # Another customer sees none of them, in any listing or by id.
    theirs = stack.auth(OTHER)
    assert await _get(stack, "/withdraw", theirs) == {"items": [], "nextCursor": None}
    assert await _get(stack, "/withdraw", theirs, status="CANCELLED") == {
        "items": [],
        "nextCursor": None,
    }
    for workflow_id in everything:
        problem(
            await stack.api.get(f"/withdraw/status/{workflow_id}", headers=theirs),
            404,
            "NOT_FOUND",
        )
    # A cursor taken from user-1001's listing gives another user nothing of theirs.
    cursor = (await _get(stack, "/withdraw", headers, limit=1))["nextCursor"]
    assert cursor is not None
    leaked = await _get(stack, "/withdraw", theirs, cursor=cursor)
    assert leaked == {"items": [], "nextCursor": None}


async def test_operator_search_by_user_and_correlation_id(stack: Stack) -> None:
    made = await _make_cancelled(stack, COUNT)
    newest_first = _ids(made)[::-1]
    other = await start(stack, OTHER)
    assert (await cancel(stack, other.workflow_id, OTHER)).status_code == 200
    await wait_terminal(stack, other.workflow_id, OTHER)
    ops = _operator(stack)

    by_user = await _get(stack, "/ops/withdrawals", ops, userId=USER)
    assert _ids(by_user["items"]) == newest_first
    assert by_user["nextCursor"] is None
    paged = await _all_pages(stack, "/ops/withdrawals", ops, limit=3, userId=USER)
    assert [len(p) for p in paged] == [3, 3, 1]
    assert _ids([i for p in paged for i in p]) == newest_first

    for state in made:
        found = await _get(stack, "/ops/withdrawals", ops, correlationId=state["correlationId"])
        # The same state, but with the reason the workflow recorded where the customer reads
        # the fixed sentence for CANCELLED.
        assert found["items"] == [{**state, "failureReason": "cancelled by the customer"}]
    unknown = await _get(stack, "/ops/withdrawals", ops, correlationId="no-such-correlation")
    assert unknown["items"] == []

    everyone = await _get(stack, "/ops/withdrawals", ops, limit=100)
    assert _ids(everyone["items"]) == [other.workflow_id, *newest_first]
    combined = await _get(stack, "/ops/withdrawals", ops, userId=OTHER, status="CANCELLED")
    assert _ids(combined["items"]) == [other.workflow_id]
    mismatch = await _get(
        stack, "/ops/withdrawals", ops, userId=OTHER, correlationId=made[0]["correlationId"]
    )
    assert mismatch["items"] == []
    # The customer's own search is not a way into the operators' one.
    forbidden = await stack.api.get(
        "/ops/withdrawals", params={"userId": OTHER}, headers=stack.auth(USER)
    )
    problem(forbidden, 403, "FORBIDDEN")


async def test_operator_tasks_come_in_pages_with_a_link_to_the_next(stack: Stack) -> None:
    made = await _make_cancelled(stack, 3)
    for state in made:
        await asyncio.to_thread(
            stack.operations.open_task,
            state["workflowId"],
            state["correlationId"],
            TaskKind.TRANSFER_UNRESOLVED,
            Decimal(state["amount"]),
            "checked by hand in this test",
        )
    ops = _operator(stack)
    first = await stack.api.get("/ops/compensation-tasks?state=OPEN&limit=2", headers=ops)
    assert first.status_code == 200, first.text
    link = first.headers["link"]
    assert link.startswith("</ops/compensation-tasks?") and link.endswith('>; rel="next"'), link
    second = await stack.api.get(link[1 : link.index(">")], headers=ops)
    assert "link" not in second.headers
    pages = [first.json()["data"], second.json()["data"]]
    assert [len(p) for p in pages] == [2, 1]
    assert [t["workflowId"] for p in pages for t in p] == [s["workflowId"] for s in made]
    for task in (t for p in pages for t in p):  # settled, so the money rule holds at the end
        resolved = await stack.api.post(
            f"/ops/compensation-tasks/{task['id']}/resolve", json={"note": "test"}, headers=ops
        )
        assert resolved.status_code == 200, resolved.text
    problem(
        await stack.api.get("/ops/compensation-tasks?limit=501", headers=ops),
        422,
        "VALIDATION_ERROR",
    )
