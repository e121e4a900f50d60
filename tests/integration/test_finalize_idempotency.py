"""Idempotency-Key on PUT /withdraw/finalize (docs/api.md): a repeat after a lost answer, a
timeout or a 503 gets the first final answer, and the OTP is never submitted to the bank twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from tests.integration._paths import (
    USER,
    calls,
    cancel,
    finalize_answered,
    otp_of,
    problem,
    start,
    status,
    wrong,
)
from tests.integration.conftest import Stack
from withdraw_service.domain.outcomes import ProblemCode
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.persistence.counters import AbuseCounters
from withdraw_service.persistence.idempotency import IdempotencyRepository


async def _finalize(stack: Stack, workflow_id: str, otp: str, key: str) -> httpx.Response:
    return await stack.api.put(
        f"/withdraw/finalize/{workflow_id}",
        json={"otpCode": otp},
        headers={**stack.auth(USER), "Idempotency-Key": key},
    )


async def test_a_repeated_finalize_gets_the_first_answer_and_submits_nothing(
    stack: Stack,
) -> None:
    started = await start(stack)
    otp = await otp_of(stack, started.authorisation_id)
    first = await _finalize(stack, started.workflow_id, otp, "fin-1")
    end = await status(stack, started.workflow_id)
    assert finalize_answered(first, end)["status"] == S.COMPLETED
    sent = await calls(stack, "transfer.finalize")

    again = await _finalize(stack, started.workflow_id, otp, "fin-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert await calls(stack, "transfer.finalize") == sent


async def test_a_refusal_is_the_first_answer_too(stack: Stack) -> None:
    """A wrong code with key A: its repeat gets the same 422 (even with another code, the
    key means the first request); the withdrawal still waits, and a new key finalizes it."""
    started = await start(stack)
    otp = await otp_of(stack, started.authorisation_id)
    first = await _finalize(stack, started.workflow_id, wrong(otp), "fin-a")
    problem(first, 422, ProblemCode.OTP_INVALID)
    sent = await calls(stack, "transfer.finalize")

    again = await _finalize(stack, started.workflow_id, otp, "fin-a")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert await calls(stack, "transfer.finalize") == sent
    assert (await status(stack, started.workflow_id))["status"] == S.AWAITING_OTP
    # One code reached the bank: one wrong code for the abuse limits, not one per repeat.
    assert await asyncio.to_thread(_wrong_codes_today, stack) == 1

    done = await _finalize(stack, started.workflow_id, otp, "fin-b")
    assert finalize_answered(done, await status(stack, started.workflow_id))["status"] == (
        S.COMPLETED
    )


async def test_a_repeat_whose_first_answer_was_lost_answers_from_the_state(
    stack: Stack,
) -> None:
    """The first request got its OTP through, but its answer was never kept (the API died
    after submitting): the repeat reads the state and does not submit the code again."""
    started = await start(stack)
    otp = await otp_of(stack, started.authorisation_id)
    finalize_answered(
        await _finalize(stack, started.workflow_id, otp, "fin-x"),
        await status(stack, started.workflow_id),
    )
    # What a request that died after submitting leaves behind: its key, without an answer.
    keys = IdempotencyRepository(stack.repository.engine)
    await asyncio.to_thread(keys.claim_finalize, USER, "fin-lost", started.workflow_id)
    sent = await calls(stack, "transfer.finalize")

    again = await _finalize(stack, started.workflow_id, otp, "fin-lost")
    assert again.status_code == 200, again.text
    assert again.json()["data"]["status"] == S.COMPLETED
    assert await calls(stack, "transfer.finalize") == sent


async def test_a_key_is_for_one_withdrawal(stack: Stack) -> None:
    first = await start(stack)
    otp = await otp_of(stack, first.authorisation_id)
    finalize_answered(
        await _finalize(stack, first.workflow_id, otp, "fin-one"),
        await status(stack, first.workflow_id),
    )
    second = await start(stack)
    reused = await _finalize(stack, second.workflow_id, "123456", "fin-one")
    problem(reused, 422, ProblemCode.IDEMPOTENCY_KEY_REUSED)
    assert (await status(stack, second.workflow_id))["status"] == S.AWAITING_OTP
    assert (await cancel(stack, second.workflow_id)).status_code == 200  # ends it


def _wrong_codes_today(stack: Stack) -> int:
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return AbuseCounters(stack.repository.engine).count(USER, "wrong-otps", day)
