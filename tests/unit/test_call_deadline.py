"""No external call outlives the activity attempt that makes it: the attempt's time left is the
call's total deadline, and a deadline that passes is an unknown outcome."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest

from tests.unit.conftest import RETRY_POLICIES
from withdraw_service.activities.deadline import CALLS, check_policies
from withdraw_service.adapters.deadline import deadline_after, seconds_left
from withdraw_service.adapters.http_base import JsonServiceClient
from withdraw_service.adapters.upstream import UpstreamUnavailableError, UpstreamUnknownOutcome
from withdraw_service.bootstrap import load_policies
from withdraw_service.domain.policies import ActivityName


def _slow_service(sent: list[str], seconds: float) -> JsonServiceClient:
    async def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        await asyncio.sleep(seconds)
        return httpx.Response(200, json={"ok": True})

    # httpx's own timeout is far away: only the deadline can end the call.
    http = httpx.AsyncClient(transport=httpx.MockTransport(handle), timeout=30)
    return JsonServiceClient("drivewealth", http, "http://dw.test")


async def test_a_call_is_cut_at_the_attempts_deadline_and_its_outcome_is_unknown() -> None:
    sent: list[str] = []
    service = _slow_service(sent, seconds=5)
    started = time.monotonic()
    with deadline_after(0.2), pytest.raises(UpstreamUnknownOutcome, match="deadline"):
        await service.request("redemption", "POST", "/redemptions")
    assert time.monotonic() - started < 2
    assert sent == ["/redemptions"]  # it was sent: what it did is unknown


async def test_no_call_is_sent_once_the_deadline_has_passed() -> None:
    sent: list[str] = []
    service = _slow_service(sent, seconds=0)
    with deadline_after(-1), pytest.raises(UpstreamUnavailableError, match="no time left"):
        await service.request("redemption", "POST", "/redemptions")
    assert sent == []  # never sent: nothing can have been applied


async def test_a_call_within_its_deadline_answers() -> None:
    sent: list[str] = []
    with deadline_after(5):
        assert await _slow_service(sent, seconds=0.01).request("token", "POST", "/t") == {
            "ok": True
        }
    assert seconds_left() is None  # the deadline ends with its block


def test_the_shipped_policies_fit_their_calls() -> None:
    check_policies(load_policies(RETRY_POLICIES))
    database_only = {
        ActivityName.SAVE_TO_DB,
        ActivityName.OPEN_OPERATOR_TASK,
        ActivityName.NOTIFY_CUSTOMER,
        ActivityName.MARK_COMPENSATED,
    }
    # Every activity that calls out is counted.
    assert set(CALLS) == set(ActivityName) - database_only


def test_a_timeout_too_short_for_its_calls_is_refused() -> None:
    policies = load_policies(RETRY_POLICIES)
    short = policies.model_copy(
        update={
            "activities": {
                **policies.activities,
                "createDwRedemption": policies.of("createDwRedemption").model_copy(
                    update={"start_to_close_timeout": timedelta(seconds=3)}
                ),
            }
        }
    )
    with pytest.raises(ValueError, match=r"createDwRedemption.*5 external call"):
        check_policies(short)
