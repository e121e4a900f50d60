"""Structured logs through the real stack (API, worker, activities, workflows, in this process):
every line is one JSON object, activity lines carry the withdrawal's workflowId and
correlationId, and no line holds an OTP, a token, a secret or a full account number."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration._paths import (
    DW_ACCOUNT,
    Started,
    finalize,
    otp_of,
    problem,
    start,
    wait_terminal,
    wrong,
)
from tests.integration.conftest import Stack
from withdraw_service.logs import JsonFormatter


class Captured:
    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def entries(self) -> list[dict[str, Any]]:
        text = self.buffer.getvalue()
        assert text, "nothing was logged"
        entries = []
        for line in text.splitlines():
            entry = json.loads(line)  # every line is one JSON object
            assert isinstance(entry, dict), line
            entries.append(entry)
        return entries

    def assert_clean(self, stack: Stack, *, otps: list[str], tokens: list[str]) -> None:
        text = self.buffer.getvalue()
        for otp in otps:
            assert not re.search(rf"\b{otp}\b", text), f"the OTP {otp} was logged"
        for token in tokens:
            assert token not in text, "a bearer token was logged"
        assert "eyJ" not in text, "something like a JWT was logged"
        assert DW_ACCOUNT not in text, "a full account number was logged"
        assert not re.search(r"(?<![A-Za-z0-9])[A-Z]{4}\d{6}(?!\d)", text), text
        settings = stack.settings
        for secret in (settings.dw_client_secret, settings.dw_app_key, settings.jwt_secret):
            assert secret.get_secret_value() not in text, "a secret was logged"


@pytest.fixture
def captured() -> Iterator[Captured]:
    """Every record of this process, at INFO and up, through the JSON formatter."""
    capture = Captured()
    handler = logging.StreamHandler(capture.buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def activity_lines(entries: list[dict[str, Any]], started: Started) -> list[dict[str, Any]]:
    mine = [e for e in entries if str(e.get("workflowId", "")).startswith(started.workflow_id)]
    return [e for e in mine if "activityType" in e]


def assert_activity_lines_carry_the_ids(
    entries: list[dict[str, Any]], started: Started, expected: set[str]
) -> None:
    from_activities = [e for e in entries if "activityType" in e]
    for entry in from_activities:
        assert entry.get("workflowId"), entry
        assert entry.get("correlationId"), entry
    mine = activity_lines(entries, started)
    assert {e["correlationId"] for e in mine} == {started.correlation_id}
    # One "activity completed" line at least for each activity this withdrawal ran.
    assert {e["activityType"] for e in mine if e["message"] == "activity completed"} >= expected


async def test_a_withdrawal_with_a_wrong_otp_logs_clean_json(
    stack: Stack, captured: Captured
) -> None:
    started = await start(stack)
    otp = await otp_of(stack, started.authorisation_id)
    problem(await finalize(stack, started.workflow_id, wrong(otp)), 422, "OTP_INVALID")
    finalized = await finalize(stack, started.workflow_id, otp)
    assert finalized.status_code == 200, finalized.text
    assert (await wait_terminal(stack, started.workflow_id))["status"] == "COMPLETED"

    entries = captured.entries()
    assert_activity_lines_carry_the_ids(
        entries,
        started,
        {
            "validateUser",
            "checkRestrictions",
            "initiateTransfer",
            "finalizeTransfer",  # twice: the wrong code, then the right one
            "getDwToken",  # no input of its own: the id comes from the workflow's header
            "createDwRedemption",
            "saveToDb",
        },
    )
    captured.assert_clean(
        stack, otps=[otp, wrong(otp)], tokens=[stack.auth("user-1001")["Authorization"]]
    )


async def test_a_compensated_withdrawal_logs_clean_json(stack: Stack, captured: Captured) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    otp = await otp_of(stack, started.authorisation_id)
    finalized = await finalize(stack, started.workflow_id, otp)
    assert finalized.status_code == 200, finalized.text
    assert (await wait_terminal(stack, started.workflow_id))["status"] == "COMPENSATED"

    entries = captured.entries()
    assert_activity_lines_carry_the_ids(
        entries, started, {"getDwToken", "rollbackTransfer", "notifyCustomer"}
    )
    # The refused redemption: the SDK's own line about the failed activity, with our ids.
    failed = [
        e
        for e in activity_lines(entries, started)
        if e["activityType"] == "createDwRedemption" and e.get("exc_type")
    ]
    assert failed, "the refused redemption was not logged"
    captured.assert_clean(stack, otps=[otp], tokens=[stack.auth("user-1001")["Authorization"]])
