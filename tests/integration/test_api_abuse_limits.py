"""Abuse limits through the API, on SQLite and PostgreSQL (docs/api.md, Security):

- the OTP brute-force loop (initiate, three wrong codes, again) stops at the day's wrong-OTP
  limit: every new initiation is then 429 RATE_LIMITED until the day is over, and no
  withdrawal is started (the bank texts nobody);
- initiations beyond the hour's allowance, and requests beyond the minute's, are 429 with
  `Retry-After`; another API process on the same database refuses alike (the counts are in
  the database); another user is not affected.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from tests.integration._paths import (
    USER,
    calls,
    cancel,
    finalize,
    initiate,
    otp_of,
    problem,
    start,
    wait_terminal,
    wrong,
)
from tests.integration.conftest import GENEROUS_LIMITS, Stack

OTHER = "user-1002"


async def _clear_of_the_window_edge(window: timedelta, needs_seconds: float) -> None:
    """The limits count in fixed windows (the minute, the hour, the UTC day): a test that
    needs `needs_seconds` inside one window waits for the next one when too close to its end."""
    now = datetime.now(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    left = window - (now - epoch) % window
    if left.total_seconds() < needs_seconds:
        await asyncio.sleep(left.total_seconds() + 0.5)


def _limited(response: httpx.Response, most_seconds: int) -> None:
    body = problem(response, 429, "RATE_LIMITED")
    assert 1 <= int(response.headers["retry-after"]) <= most_seconds, response.headers
    assert set(body) <= {"type", "title", "status", "detail", "code"}, body


async def test_the_otp_guessing_loop_stops_at_the_days_wrong_codes(stack: Stack) -> None:
    """Limit 5: the first withdrawal's three wrong codes count 3 (the last one, answered
    OTP_EXPIRED, too), the second's first two bring it to 5; its third code, and any new
    withdrawal, are then refused on every API process."""
    await _clear_of_the_window_edge(timedelta(days=1), 60)
    limits = {**GENEROUS_LIMITS, "rate_limit_wrong_otps_per_day": 5}
    async with stack.api_with(**limits) as api, stack.api_with(**limits) as replica:
        first = await start(stack, api=api)
        code = wrong(await otp_of(stack, first.authorisation_id))
        answers = [await finalize(stack, first.workflow_id, code, api=api) for _ in range(3)]
        assert [a.status_code for a in answers] == [422, 422, 410], [a.text for a in answers]
        assert (await wait_terminal(stack, first.workflow_id, api=api))["status"] == "OTP_REJECTED"

        second = await start(stack, api=api)
        code = wrong(await otp_of(stack, second.authorisation_id))
        answers = [await finalize(stack, second.workflow_id, code, api=api) for _ in range(2)]
        assert [a.status_code for a in answers] == [422, 422], [a.text for a in answers]
        finalized = await calls(stack, "transfer.finalize")
        _limited(await finalize(stack, second.workflow_id, code, api=replica), 86400)
        assert await calls(stack, "transfer.finalize") == finalized  # the code was not sent

        initiated = await calls(stack, "transfer.initiate")
        _limited(await initiate(stack, api=api), 86400)
        _limited(await initiate(stack, api=replica), 86400)
        assert await calls(stack, "transfer.initiate") == initiated  # nothing was started
        other = await start(stack, OTHER, api=api)  # another customer is not affected
        assert (await cancel(stack, other.workflow_id, OTHER)).status_code == 200
        assert (await cancel(stack, second.workflow_id)).status_code == 200


async def test_initiations_beyond_the_hours_allowance_are_429(stack: Stack) -> None:
    await _clear_of_the_window_edge(timedelta(hours=1), 60)
    async with stack.api_with(**{**GENEROUS_LIMITS, "rate_limit_initiations_per_hour": 2}) as api:
        for _ in range(2):
            started = await start(stack, api=api)
            assert (await cancel(stack, started.workflow_id)).status_code == 200
            await wait_terminal(stack, started.workflow_id, api=api)
        initiated = await calls(stack, "transfer.initiate")
        _limited(await initiate(stack, api=api), 3600)
        assert await calls(stack, "transfer.initiate") == initiated


async def test_requests_beyond_the_minutes_allowance_are_429_on_every_replica(
    stack: Stack,
) -> None:
    await _clear_of_the_window_edge(timedelta(minutes=1), 20)
    limits = {**GENEROUS_LIMITS, "rate_limit_requests_per_minute": 5}
    async with stack.api_with(**limits) as first, stack.api_with(**limits) as second:
        answers = [
            await replica.get("/withdraw", headers=stack.auth(USER))
            for replica in (first, second, first, second, first)
        ]
        assert [a.status_code for a in answers] == [200] * 5
        _limited(await second.get("/withdraw", headers=stack.auth(USER)), 60)
        _limited(await first.get("/withdraw", headers=stack.auth(USER)), 60)
        assert (await first.get("/withdraw", headers=stack.auth(OTHER))).status_code == 200
