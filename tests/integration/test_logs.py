"""Structured logs through the real stack (API, worker, activities, workflows, in this process):
every line is one JSON object, activity lines carry the withdrawal's workflowId and
correlationId, and no line holds an OTP, a token, a secret or a full account number.

Two checks of the last point: the records as the code made them, before the formatter masks
anything (the rule: code never logs a secret), and the formatted output (the mask, the safety
net under that rule)."""

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
    USER,
    Started,
    finalize,
    finalize_answered,
    otp_of,
    problem,
    start,
    wait_terminal,
    wrong,
)
from tests.integration.conftest import Stack
from withdraw_service.domain.statuses import WithdrawStatus
from withdraw_service.logs import JsonFormatter


class Captured(logging.StreamHandler[io.StringIO]):
    """Every record of this process, at INFO and up: kept as made (`records`), and written
    through the JSON formatter (`buffer`)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        super().__init__(self.buffer)
        self.setFormatter(JsonFormatter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        super().emit(record)

    def entries(self) -> list[dict[str, Any]]:
        text = self.buffer.getvalue()
        assert text, "nothing was logged"
        entries = []
        for line in text.splitlines():
            entry = json.loads(line)  # every line is one JSON object
            assert isinstance(entry, dict), line
            entries.append(entry)
        return entries

    def assert_clean(
        self, stack: Stack, *, otps: list[str], jwt: str, redemption_id: str | None = None
    ) -> None:
        """Neither the records nor the output hold these OTPs, this JWT (the one the requests
        carried), the account number, the redemption id or a configured secret."""
        secrets = {"the JWT the requests carried": jwt, "the account number": DW_ACCOUNT}
        if redemption_id:
            secrets["the redemption id"] = redemption_id
        settings = stack.settings
        for name in ("dw_client_secret", "dw_app_key", "jwt_secret"):
            secrets[f"the setting {name}"] = getattr(settings, name).get_secret_value()
        self._assert_records_clean(otps, secrets)
        self._assert_output_clean(otps, jwt, secrets)

    def _assert_records_clean(self, otps: list[str], secrets: dict[str, str]) -> None:
        assert self.records, "nothing was logged"
        for record in self.records:
            for where, text in raw_texts(record):
                place = f"{where} of the {record.name} record {record.msg!r}"
                for otp in otps:
                    assert not re.search(rf"\b{otp}\b", text), f"the OTP {otp} in {place}"
                for name, secret in secrets.items():
                    assert secret not in text, f"{name} in {place}"

    def _assert_output_clean(self, otps: list[str], jwt: str, secrets: dict[str, str]) -> None:
        text = self.buffer.getvalue()
        for otp in otps:
            assert not re.search(rf"\b{otp}\b", text), f"the OTP {otp} was logged"
        assert jwt not in text, "the bearer token was logged"
        assert "eyJ" not in text, "something like a JWT was logged"
        assert not re.search(r"(?<![A-Za-z0-9])[A-Z]{4}\d{6}(?!\d)", text), text
        for name, secret in secrets.items():
            assert secret not in text, f"{name} was logged"


def raw_texts(record: logging.LogRecord) -> Iterator[tuple[str, str]]:
    """Every text of a record before formatting: its message, its arguments, its exception
    and every attribute (the extras included)."""
    yield "the message", record.getMessage()
    yield "the arguments", str(record.args)
    if record.exc_info:
        yield "the exception", logging.Formatter().formatException(record.exc_info)
    for key, value in record.__dict__.items():
        if value is not None:
            yield f"the attribute {key}", value if isinstance(value, str) else str(value)


@pytest.fixture
def captured() -> Iterator[Captured]:
    capture = Captured()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


@pytest.fixture
def jwt(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """One token for every request of the test (the helpers ask `stack.auth` for each), so
    that the one checked for in the logs is the one the requests carried."""
    headers = stack.auth(USER)

    def auth(user_id: str) -> dict[str, str]:
        assert user_id == USER, user_id
        return headers

    monkeypatch.setattr(stack, "auth", auth)
    return headers["Authorization"].removeprefix("Bearer ")


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
    stack: Stack, captured: Captured, jwt: str
) -> None:
    started = await start(stack)
    otp = await otp_of(stack, started.authorisation_id)
    problem(await finalize(stack, started.workflow_id, wrong(otp)), 422, "OTP_INVALID")
    finalized = await finalize(stack, started.workflow_id, otp)
    assert finalized.status_code == 200, finalized.text
    redemption_id = finalized.json()["data"]["dwRedemptionId"]
    assert redemption_id, finalized.text
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
    captured.assert_clean(stack, otps=[otp, wrong(otp)], jwt=jwt, redemption_id=redemption_id)


async def test_a_compensated_withdrawal_logs_clean_json(
    stack: Stack, captured: Captured, jwt: str
) -> None:
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    otp = await otp_of(stack, started.authorisation_id)
    finalized = await finalize(stack, started.workflow_id, otp)
    end = await wait_terminal(stack, started.workflow_id)
    assert end["status"] == WithdrawStatus.COMPENSATED
    finalize_answered(finalized, end)  # 422 WITHDRAWAL_FAILED with the state

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
    captured.assert_clean(stack, otps=[otp], jwt=jwt)
