"""The running stack's output (`withdraw-service dev`): apart from the supervisor's `[dev]` lines
and the Temporal server's own, every line is one JSON object from our formatter, and none holds
an OTP or a full DriveWealth account number."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.e2e.conftest import RunningStack
from tests.e2e.test_withdrawal import initiate, token

OUR_KEYS = {"ts", "level", "logger", "message"}
ACCOUNT_NUMBER = re.compile(r"(?<![A-Za-z0-9])[A-Z]{4}\d{6}(?!\d)")
# What the Temporal CLI prints about itself when the dev server starts, and its log lines when
# they are not JSON (`time=... level=... msg=...`).
TEMPORAL_TEXT = re.compile(r"^(Temporal |CLI \d|\s*$|time=\S+ level=\S+ msg=)")


def is_temporal_server_line(line: str, entry: Any) -> bool:
    if entry is None:
        return bool(TEMPORAL_TEXT.match(line))
    return isinstance(entry, dict) and "msg" in entry and "logger" not in entry


def parsed(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def test_the_stack_logs_json_without_otps_or_account_numbers(
    running_stack: RunningStack,
) -> None:
    headers = token(running_stack, "user-1001")
    data = initiate(running_stack, headers, "25.00")
    otp = httpx.get(f"{running_stack.sim_url}/_sim/otp/{data['authorisationId']}").json()["otp"]
    wrong = f"{(int(otp) + 1) % 10**6:06d}"
    url = f"{running_stack.api_url}/withdraw/finalize/{data['workflowId']}"
    refused = httpx.put(url, json={"otpCode": wrong}, headers=headers, timeout=60)
    assert refused.status_code == 422, refused.text
    finalized = httpx.put(url, json={"otpCode": otp}, headers=headers, timeout=60)
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["data"]["status"] == "COMPLETED"

    # Each line is written before what it tells of is answered: the worker's before the
    # activity reports back, the API's access line before the response reaches us.
    ours, foreign = _our_lines(running_stack)
    assert foreign == [], f"lines that are not our JSON: {foreign[:5]}"

    # Output only (child process): the raw-record check lives in tests/integration/test_logs.py.
    text = running_stack.log.read_text()
    for code in (otp, wrong):
        assert not re.search(rf"\b{code}\b", text), f"the OTP {code} was logged"
    assert not ACCOUNT_NUMBER.search(text), "a full account number was logged"
    assert headers["Authorization"].removeprefix("Bearer ") not in text, "our token was logged"
    assert "eyJ" not in text, "something like a JWT was logged"
    # The withdrawal's lines carry its ids: the API's (access line) and the worker's.
    mine = [e for e in ours if e.get("workflowId") == data["workflowId"]]
    assert {e["correlationId"] for e in mine if "correlationId" in e} == {data["correlationId"]}
    assert any(e.get("activityType") == "createDwRedemption" for e in mine)
    access = [e for e in mine if e["logger"] == "uvicorn.access"]
    assert len(access) == 3, access  # initiate, the wrong code, the right one
    assert all(e.get("correlationId") == data["correlationId"] for e in access), access


def _our_lines(stack: RunningStack) -> tuple[list[dict[str, Any]], list[str]]:
    ours: list[dict[str, Any]] = []
    foreign: list[str] = []
    for line in stack.log.read_text().splitlines():
        if line.startswith("[dev] "):
            continue
        entry = parsed(line)
        if is_temporal_server_line(line, entry):
            continue
        if isinstance(entry, dict) and entry.keys() >= OUR_KEYS:
            ours.append(entry)
        else:
            foreign.append(line)
    return ours, foreign
